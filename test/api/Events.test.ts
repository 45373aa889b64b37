/**
 * `GET /v1/events` end to end: a real server and engine on a fresh database, the stream read with fetch() as the
 * dashboard reads it. A connected client sees a step's state change within 2 s; a client that reconnects with
 * `Last-Event-ID` receives what it missed; the hub holds a LISTEN connection only while a client is connected;
 * with a token the stream needs it like every /v1 endpoint.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerClient } from "../../src/client/Client.ts"
import { gatedWorkflow, newGate } from "../support/Templates.ts"
import { apiTestLayer, baseUrl } from "./Support.ts"

const Gated = gatedWorkflow("dash_events")
const GATED = { namespace: "dash_events", name: "gated", version: "1.0.0" } as const
const TOKEN = "events-test-token-0123456789"

interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: any
}

/** An open event stream: its events as they arrive, its comments, and a way to close it. */
class SseReader {
  readonly events: Array<SseEvent> = []
  readonly comments: Array<string> = []
  private buffer = ""
  private readonly controller = new AbortController()
  private waiters: Array<() => void> = []
  status = 0
  contentType = ""

  async open(url: string, headers: Record<string, string>) {
    const response = await fetch(url, { headers, signal: this.controller.signal })
    this.status = response.status
    this.contentType = response.headers.get("content-type") ?? ""
    if (response.status !== 200 || response.body === null) return
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    void (async () => {
      try {
        while (true) {
          const { done, value } = await reader.read()
          if (done) break
          this.buffer += value
          let end: number
          while ((end = this.buffer.indexOf("\n\n")) >= 0) {
            this.parse(this.buffer.slice(0, end))
            this.buffer = this.buffer.slice(end + 2)
          }
          for (const wake of this.waiters.splice(0)) wake()
        }
      } catch {
        // aborted
      }
    })()
  }

  private parse(block: string) {
    let id: string | undefined
    let event = "message"
    let data = ""
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) this.comments.push(line.slice(1).trim())
      else if (line.startsWith("id: ")) id = line.slice(4)
      else if (line.startsWith("event: ")) event = line.slice(7)
      else if (line.startsWith("data: ")) data += line.slice(6)
    }
    if (data !== "") this.events.push({ id, event, data: JSON.parse(data) })
  }

  /** The first event (from the start) matching `predicate`, waiting up to `ms`. */
  async waitFor(predicate: (e: SseEvent) => boolean, ms: number): Promise<SseEvent | undefined> {
    const deadline = Date.now() + ms
    while (true) {
      const found = this.events.find(predicate)
      if (found !== undefined) return found
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  close() {
    this.controller.abort()
  }
}

const openStream = (path: string, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const url = yield* baseUrl
      const reader = new SseReader()
      yield* Effect.promise(() => reader.open(url + path, headers))
      return reader
    }),
    (reader) => Effect.sync(() => reader.close())
  )

/** Backends of this test database listening on the engine's channel (the engine's own listener included). */
const listeners = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND query ILIKE 'LISTEN%tasker_queue%'`
  return row!.n
})

const waitUntil = <E, R>(check: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      if (yield* check) return
      yield* Effect.sleep("50 millis")
    }
    assert.fail(`timed out waiting until ${what}`)
  })

layer(apiTestLayer({}, {}, { templates: [Gated] }), { excludeTestServices: true, timeout: "120 seconds" })("event stream", (it) => {
  describe("live events", () => {
    it.effect("a connected client sees a step's state change within 2 s; Last-Event-ID resumes; the hub stops with no client", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const idle = yield* listeners

        const { context, gate } = yield* newGate
        const created = yield* client.createTask({ ...GATED, context })

        const first = yield* Effect.scoped(Effect.gen(function*() {
          const stream = yield* openStream(`/v1/events?task_uuid=${created.task_uuid}`)
          assert.strictEqual(stream.status, 200)
          assert.include(stream.contentType, "text/event-stream")
          // the hub listens while a client is connected
          yield* waitUntil(Effect.map(listeners, (n) => n === idle + 1), "the hub listens")
          // the wait step is held at its gate (running); open it: the step finishes and the next one runs
          yield* waitUntil(
            Effect.map(client.getStep(created.task_uuid, created.step_mapping.wait!), (s) => s.current_state === "in_progress").pipe(
              Effect.orDie
            ),
            "the wait step runs"
          )
          const opened = Date.now()
          yield* Deferred.succeed(gate, undefined)
          const done = yield* Effect.promise(() =>
            stream.waitFor((e) => e.event === "step" && e.data.name === "wait" && e.data.state === "complete", 2000)
          )
          assert.isDefined(done, `no step event within 2 s of the state change: ${JSON.stringify(stream.events)}`)
          assert.isAtMost(Date.now() - opened, 2000)
          assert.strictEqual(done!.data.task_uuid, created.task_uuid)
          assert.strictEqual(done!.data.step_uuid, created.step_mapping.wait)
          assert.isString(done!.id)
          assert.isString(done!.data.at)
          // only this task's events
          for (const e of stream.events) assert.strictEqual(e.data.task_uuid, created.task_uuid)
          return { lastId: done!.id!, seen: stream.events.map((e) => e.id) }
        }))

        // the client is gone: the hub closes its LISTEN connection (and with it its timer and queries)
        yield* waitUntil(Effect.map(listeners, (n) => n === idle), "the hub stops listening")

        // meanwhile the task finishes; a reconnect with the last id gets what it missed
        yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
        yield* Effect.scoped(Effect.gen(function*() {
          const stream = yield* openStream(`/v1/events?task_uuid=${created.task_uuid}`, { "Last-Event-ID": first.lastId })
          const complete = yield* Effect.promise(() =>
            stream.waitFor((e) => e.event === "task" && e.data.state === "complete", 2000)
          )
          assert.isDefined(complete, `missed events not replayed: ${JSON.stringify(stream.events)}`)
          assert.isDefined(stream.events.find((e) => e.event === "step" && e.data.name === "after" && e.data.state === "complete"))
          // nothing the first connection saw up to its last id comes again
          assert.notInclude(stream.events.map((e) => e.id), first.lastId)
          assert.include(stream.comments, "connected")
        }))

        const bad = yield* Effect.scoped(openStream("/v1/events", { "Last-Event-ID": "garbage" }))
        assert.strictEqual(bad.status, 400)
      }))
  })
})

layer(apiTestLayer({ token: TOKEN }), { excludeTestServices: true, timeout: "60 seconds" })("event stream with a token", (it) => {
  it.effect("needs the token like every /v1 endpoint", () =>
    Effect.gen(function*() {
      const without = yield* Effect.scoped(openStream("/v1/events"))
      assert.strictEqual(without.status, 401)
      const withToken = yield* Effect.scoped(Effect.gen(function*() {
        const stream = yield* openStream("/v1/events", { authorization: `Bearer ${TOKEN}` })
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 200)))
        return { status: stream.status, comments: [...stream.comments] }
      }))
      assert.strictEqual(withToken.status, 200)
      assert.include(withToken.comments, "connected")
    }))
})
