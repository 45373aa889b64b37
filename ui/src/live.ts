/**
 * The live stream: `GET /v1/events` (server-sent events) read with `fetch` streaming, because `EventSource` cannot
 * send the `Authorization` header. Reconnects with exponential backoff (1 s doubling to 30 s), resuming with
 * `Last-Event-ID`, and reports its state so the page can say "reconnecting…". A connection that goes silent (a
 * network path that died without closing it) is taken for lost after three heartbeats of nothing: the server says
 * how often it sends one (`: heartbeat every <ms> ms`).
 */
import { getToken } from "./api.ts"

export type LiveStatus = "connecting" | "live" | "reconnecting" | "unavailable"

export interface LiveEvent {
  readonly event: string
  readonly data: unknown
}

/** How long a silence means a dead connection before the server has said its heartbeat interval. */
const DEFAULT_SILENCE_MS = 45_000
const HEARTBEAT_INTERVAL = /^: heartbeat every (\d+) ms$/

export const connectLive = (
  onEvent: (event: LiveEvent) => void,
  onStatus: (status: LiveStatus) => void,
  taskUuid?: string
): (() => void) => {
  let stopped = false
  let lastId: string | undefined
  let delay = 1000
  let controller: AbortController | undefined
  let timer: ReturnType<typeof setTimeout> | undefined

  const schedule = (status: LiveStatus) => {
    if (stopped) return
    onStatus(status)
    timer = setTimeout(run, delay)
    delay = Math.min(delay * 2, 30_000)
  }

  const run = async () => {
    if (stopped) return
    const aborter = new AbortController()
    controller = aborter
    const headers: Record<string, string> = { accept: "text/event-stream" }
    const token = getToken()
    if (token !== undefined) headers["authorization"] = `Bearer ${token}`
    if (lastId !== undefined) headers["last-event-id"] = lastId
    try {
      const url = taskUuid === undefined ? "/v1/events" : `/v1/events?task_uuid=${encodeURIComponent(taskUuid)}`
      const response = await fetch(url, { headers, signal: aborter.signal })
      if (!response.ok || response.body === null) {
        // no stream on this server (404) or no credential (401): say so, try again later
        return schedule(response.status === 404 || response.status === 401 ? "unavailable" : "reconnecting")
      }
      onStatus("live")
      delay = 1000
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      let silenceMs = DEFAULT_SILENCE_MS
      let watchdog: ReturnType<typeof setTimeout> | undefined
      const watch = () => {
        if (watchdog !== undefined) clearTimeout(watchdog)
        // nothing, not even a heartbeat, for that long: the connection is dead (the abort ends the read below)
        watchdog = setTimeout(() => aborter.abort(), silenceMs)
      }
      watch()
      while (!stopped) {
        const { done, value } = await reader.read().finally(() => clearTimeout(watchdog))
        if (done) break
        watch()
        buffer += value
        let end: number
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "")
          let event = "message"
          const data: Array<string> = []
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(":")) {
              const interval = HEARTBEAT_INTERVAL.exec(line)
              if (interval !== null) {
                silenceMs = 3 * Number(interval[1])
                watch()
              }
              continue
            }
            const colon = line.indexOf(":")
            const field = colon < 0 ? line : line.slice(0, colon)
            const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
            if (field === "event") event = val
            else if (field === "data") data.push(val)
            else if (field === "id") lastId = val
          }
          if (data.length > 0) {
            try {
              onEvent({ event, data: JSON.parse(data.join("\n")) })
            } catch {
              // not JSON: ignore the event
            }
          }
        }
      }
      schedule("reconnecting")
    } catch {
      schedule("reconnecting")
    }
  }

  onStatus("connecting")
  void run()
  return () => {
    stopped = true
    controller?.abort()
    if (timer !== undefined) clearTimeout(timer)
  }
}
