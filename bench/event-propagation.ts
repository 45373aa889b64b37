/**
 * Event propagation, on connections opened once before sampling (no connection set-up, no sleep inside a sample):
 *
 * - `NOTIFY → LISTEN`: from sending `SELECT pg_notify(…)` (autocommit, so the notification is delivered on its
 *   commit) on one connection to the moment the listening fiber holds that notification, received on another
 *   connection through `PgClient.listen`. The listener waits before the send; the sender's own reply is not waited
 *   for inside the timed interval.
 * - `send → worker wake-up`: from `MessageQueue.send` (insert + NOTIFY in one transaction) to the moment a
 *   subscriber of that queue is woken by `Wakeups` (the engine's LISTEN connection and fan-out), i.e. what a
 *   worker in another process sees. The engine's same-process shortcut (`Wakeups.signal`) is not used.
 * - `send → wake-up → read`: the same, until the woken subscriber holds the message (`MessageQueue.read`).
 *
 *   node bench/event-propagation.ts [--quick]
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Fiber, Layer, ManagedRuntime, Queue, Redacted, Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { postgresLayer } from "../layers/postgres.ts"
import { CurrentProcessor } from "../src/db/Processors.ts"
import { MessageQueue } from "../src/messaging/MessageQueue.ts"
import { Wakeups } from "../src/messaging/Wakeups.ts"
import { createBenchDatabase, serverVersion } from "./support/BenchEngine.ts"
import { budget, runStandalone, sample, type Suite, type SuiteContext } from "./support/Harness.ts"
import { type CaseResult, latencyCase } from "./support/Results.ts"

const SUITE = "event-propagation"
const CHANNEL = "tasker_bench_events"
const QUEUE = "bench_wakeup"

export const run = async (ctx: SuiteContext) => {
  const database = await createBenchDatabase("tasker_bench_events")
  try {
    return { cases: [await notifyListen(ctx, database.url), ...(await wakeups(ctx, database.url))] }
  } finally {
    await database.drop()
  }
}

const notifyListen = async (ctx: SuiteContext, url: string): Promise<CaseResult> => {
  const client = (name: string) =>
    PgClient.makeClient({ url: Redacted.make(url), applicationName: name }).pipe(Effect.provide(Reactivity.layer))
  const scope = Scope.makeUnsafe()
  const setup = Effect.gen(function*() {
    const sender = yield* client("bench-sender")
    const listener = yield* client("bench-listener")
    const notifications = yield* listener.listen(CHANNEL)
    return { sender, notifications }
  }).pipe(Scope.provide(scope))
  const { notifications, sender } = await Effect.runPromise(setup)
  try {
    const once = (index: number) =>
      Effect.runPromise(Effect.gen(function*() {
        const payload = String(index)
        const received = yield* Queue.take(notifications).pipe(
          Effect.repeat({ until: (n) => n.payload === payload }),
          Effect.map(() => performance.now()),
          Effect.forkChild
        )
        const started = performance.now()
        const sent = yield* Effect.forkChild(sender.unsafe("SELECT pg_notify($1, $2)", [CHANNEL, payload]))
        const at = yield* Fiber.join(received)
        yield* Fiber.join(sent)
        return at - started
      }))
    const samples = await sample(once, budget(ctx.mode, "fast"))
    return latencyCase({
      suite: SUITE,
      case: "NOTIFY → LISTEN (open connections)",
      timed: "pg_notify sent on one connection → notification in the listening fiber on another",
      samplesMs: samples,
      targets: [{ metric: "p50", op: "<=", value: 1 }]
    })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const wakeups = async (ctx: SuiteContext, url: string): Promise<Array<CaseResult>> => {
  const layer = Layer.mergeAll(
    MessageQueue.layerPostgres,
    Wakeups.layer({ mode: "event_driven", pollInterval: "1 second" })
  ).pipe(
    Layer.provideMerge(CurrentProcessor.layer({ role: "worker" })),
    Layer.provideMerge(postgresLayer({ url, maxConnections: 4 }))
  )
  const runtime = ManagedRuntime.make(layer)
  const scope = Scope.makeUnsafe()
  try {
    const { queue, subscription } = await runtime.runPromise(Effect.gen(function*() {
      const queue = yield* MessageQueue
      yield* queue.createQueue(QUEUE)
      const subscription = yield* (yield* Wakeups).subscribe(QUEUE).pipe(Scope.provide(scope))
      return { queue, subscription }
    }))
    // the listener has connected (and woken everyone once): drop that wake-up before sampling
    await runtime.runPromise(subscription.await.pipe(Effect.timeoutOption("200 millis")))

    const once = (read: boolean) => (index: number) =>
      runtime.runPromise(Effect.gen(function*() {
        const woken = yield* subscription.await.pipe(
          Effect.flatMap(() => read ? queue.read(QUEUE, { visibilityTimeoutSeconds: 30, quantity: 1 }) : Effect.succeed([])),
          Effect.map((messages) => ({ at: performance.now(), messages })),
          Effect.forkChild
        )
        const started = performance.now()
        const msgId = yield* queue.send(QUEUE, { step_uuid: `bench-${index}` })
        const { at, messages } = yield* Fiber.join(woken)
        if (read && messages[0]?.msg_id !== msgId) return yield* Effect.die(new Error("read another message"))
        yield* queue.delete(QUEUE, msgId)
        return at - started
      }))
    const wake = await sample(once(false), budget(ctx.mode, "fast"))
    const wakeRead = await sample(once(true), budget(ctx.mode, "fast"))
    return [
      latencyCase({
        suite: SUITE,
        case: "send → worker wake-up (Wakeups)",
        timed: "MessageQueue.send called → the queue's subscriber woken through LISTEN and the Wakeups fan-out",
        samplesMs: wake
      }),
      latencyCase({
        suite: SUITE,
        case: "send → wake-up → message read",
        timed: "MessageQueue.send called → the woken subscriber holds the message (MessageQueue.read)",
        samplesMs: wakeRead
      })
    ]
  } finally {
    await runtime.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
    await runtime.dispose()
  }
}

export const suite: Suite = { name: SUITE, run }

if (import.meta.main) await runStandalone(suite, serverVersion)
