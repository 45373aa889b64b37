/**
 * The live stream: `GET /v1/events` (server-sent events) read with `fetch` streaming, because `EventSource` cannot
 * send the `Authorization` header. Reconnects with exponential backoff (1 s doubling to 30 s), resuming with
 * `Last-Event-ID`, and reports its state so the page can say "reconnecting…".
 */
import { getToken } from "./api.ts"

export type LiveStatus = "connecting" | "live" | "reconnecting" | "unavailable"

export interface LiveEvent {
  readonly event: string
  readonly data: unknown
}

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
    controller = new AbortController()
    const headers: Record<string, string> = { accept: "text/event-stream" }
    const token = getToken()
    if (token !== undefined) headers["authorization"] = `Bearer ${token}`
    if (lastId !== undefined) headers["last-event-id"] = lastId
    try {
      const url = taskUuid === undefined ? "/v1/events" : `/v1/events?task_uuid=${encodeURIComponent(taskUuid)}`
      const response = await fetch(url, { headers, signal: controller.signal })
      if (!response.ok || response.body === null) {
        // no stream on this server (404) or no credential (401): say so, try again later
        return schedule(response.status === 404 || response.status === 401 ? "unavailable" : "reconnecting")
      }
      onStatus("live")
      delay = 1000
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      while (!stopped) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end: number
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "")
          let event = "message"
          const data: Array<string> = []
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(":")) continue
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
