/**
 * Wake-ups, one suite run against each database (test/engine/Wakeups.test.ts on PostgreSQL,
 * test/embedded/Wakeups.test.ts on PGlite): each send wakes a consumer once. A process that wakes its own consumers
 * after committing marks its NOTIFY with its processor uuid (tasker_notify_queue) and skips it when it comes back;
 * everyone else's notifications wake as usual.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Latch, Layer, Metric, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../../layers/engine.ts"
import type { EngineSettings } from "../../../src/config/EngineConfig.ts"
import { CurrentProcessor } from "../../../src/db/Processors.ts"
import type { TaskUuid } from "../../../src/domain/Ids.ts"
import { TaskRecordFromJson } from "../../../src/domain/TaskRecord.ts"
import { workerQueueName } from "../../../src/messaging/Channels.ts"
import { Wakeups } from "../../../src/messaging/Wakeups.ts"
import { TaskInitializer } from "../../../src/tasks/TaskInitializer.ts"
import { TaskOperations } from "../../../src/tasks/TaskOperations.ts"
import { TaskQueries } from "../../../src/tasks/TaskQueries.ts"
import * as Metrics from "../../../src/telemetry/Metrics.ts"
import { Workflow } from "../../../src/workflow/Workflow.ts"
import type { DatabaseUnderTest } from "../Databases.ts"

/** NOTIFY as tasker_notify_queue sends it, with the given origin (or none), committed on its own. */
const notify = (queue: string, origin: string | null) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.gen(function*() {
      if (origin !== null) yield* sql`SELECT set_config('tasker.notify_origin', ${origin}, true)`
      yield* sql`SELECT tasker_notify_queue(${queue})`
    })))

/** A step that does not end by itself (its task ends by cancellation). */
const Stuck = Workflow.make({ namespace: "wakeups", name: "stuck", version: "1.0.0", identityStrategy: "always_unique" })
  .step("wait", { run: () => Effect.never })

/** A step that ends when the test opens `gate` (the test closes it again before it creates the task). */
const gate = Latch.makeUnsafe(false)
const Gated = Workflow.make({ namespace: "wakeups", name: "gated", version: "1.0.0", identityStrategy: "always_unique" })
  .step("wait", { run: () => Effect.as(gate.await, "opened") })

const Chain = Workflow.make({ namespace: "wakeups", name: "chain", version: "1.0.0", identityStrategy: "always_unique" })
  .step("s1", { run: () => Effect.succeed(1) })
  .step("s2", { dependsOn: ["s1"], run: () => Effect.succeed(2) })
  .step("s3", { dependsOn: ["s2"], run: () => Effect.succeed(3) })
  .step("s4", { dependsOn: ["s3"], run: () => Effect.succeed(4) })

export const wakeupsSuite = (db: DatabaseUnderTest) => {
  const WakeupsLayer = Wakeups.layer({ mode: "event_driven", pollInterval: "60 seconds" }).pipe(
    Layer.provideMerge(CurrentProcessor.layer({ role: "test" })),
    Layer.provideMerge(db.layer)
  )

  layer(WakeupsLayer, { excludeTestServices: true })(`queue notifications on ${db.name}`, (it) => {
    it.effect("a notification marked with this process's own origin is skipped; others wake the consumer", () =>
      Effect.gen(function*() {
        const wakeups = yield* Wakeups
        const self = (yield* CurrentProcessor).processorUuid
        const subscription = yield* wakeups.subscribe("q_origin")
        const woken = subscription.await.pipe(Effect.timeoutOption("1500 millis"), Effect.map(Option.isSome))

        // the listener wakes everyone once when it (re)connects: wait for that before counting
        yield* subscription.await.pipe(Effect.timeoutOption("2 seconds"))
        yield* subscription.reset

        yield* notify("q_origin", self)
        assert.isFalse(yield* woken, "own notification skipped")
        yield* notify("q_origin", "01a21c00-0000-7000-8000-000000000000")
        assert.isTrue(yield* woken, "another process's notification wakes")
        yield* notify("q_origin", null)
        assert.isTrue(yield* woken, "an unmarked notification wakes")
      }).pipe(Effect.scoped))

    it.effect("reset drops a wake-up that arrived before the consumer looked", () =>
      Effect.gen(function*() {
        const wakeups = yield* Wakeups
        const subscription = yield* wakeups.subscribe("q_reset")
        yield* wakeups.signal("q_reset")
        yield* subscription.reset
        const woken = yield* subscription.await.pipe(Effect.timeoutOption("300 millis"))
        assert.isTrue(Option.isNone(woken))
      }).pipe(Effect.scoped))
  })

  describe(`worker claims on ${db.name}`, () => {
    it.live("no claim for a task created here (every step handed off), one per task created in a transaction: the worker's own signal and its NOTIFY do not both wake it", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const claims = Effect.map(
          Metric.value(Metric.withAttributes(Metrics.messageReceiveDuration, { queue: workerQueueName("wakeups") })),
          (state) => state.count
        )
        const sql = yield* SqlClient.SqlClient
        // steps a worker claimed at once from its parent's result (their Start transition says so)
        const handoffs = Effect.map(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_workflow_step_transitions
                             WHERE metadata ->> 'event' = 'Start' AND (metadata ->> 'handoff')::boolean`,
          (rows) => rows[0]!.n
        )
        // result submissions (the batcher's statements: outside any task's correlation, so one series)
        const submissions = Effect.map(
          Metric.value(Metric.withAttributes(Metrics.sqlQueries, { query_type: "tasker_submit_step_results", result: "success" })),
          (state) => state.count
        )
        // let the consumer settle (its first look, and the look after the listener connected)
        yield* Effect.sleep("500 millis")
        const before = yield* claims
        const handoffsBefore = yield* handoffs
        const submissionsBefore = yield* submissions
        const tasks = 5
        const run = (create: Effect.Effect<{ readonly task_uuid: TaskUuid }, unknown>) =>
          Effect.gen(function*() {
            for (let i = 0; i < tasks; i++) {
              const created = yield* create
              const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
              assert.strictEqual(done.status, "complete")
            }
            // give a stray NOTIFY the time to arrive and cause a look, if one were going to
            yield* Effect.sleep("300 millis")
          })
        // roots put on the queue (Enqueue: not handed to the worker by their creation)
        const enqueued = Effect.map(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_workflow_step_transitions
                             WHERE metadata ->> 'event' = 'Enqueue'`,
          (rows) => rows[0]!.n
        )
        const enqueuedBefore = yield* enqueued
        const create = init.createTask({ namespace: "wakeups", name: "chain", version: "1.0.0", context: {} })
        // created in this process: the creation claims the root for the worker, and each result the next step, so
        // no step goes through the queue and nothing wakes the consumer. (A creation that finds the worker's slots
        // held by a look of its consumer enqueues its root instead, which then costs a look.)
        yield* run(create)
        const queuedRoots = (yield* enqueued) - enqueuedBefore
        assert.isBelow(queuedRoots, tasks, "no root was handed off at its creation")
        assert.strictEqual((yield* handoffs) - handoffsBefore, tasks * 4 - queuedRoots)
        assert.isAtMost((yield* claims) - before, queuedRoots + 1, "claims after hand-offs at creation")
        // created inside a transaction of the caller's: the root goes through the queue. One look per task: its
        // root step, claimed after a local signal (before origin marking this was about twice as many); the 3 other
        // steps of the chain are handed to the worker by their parent's result, without a look
        const queued = yield* claims
        yield* run(sql.withTransaction(create))
        const looks = (yield* claims) - queued
        assert.isAtMost(looks, tasks + 1, `claims: ${looks}`)
        assert.isAtLeast(looks, tasks)
        assert.strictEqual((yield* handoffs) - handoffsBefore, tasks * 4 - queuedRoots + tasks * 3)
        // one submission per step, one at a time: no empty batch after a result that went out with the previous one
        assert.strictEqual((yield* submissions) - submissionsBefore, 2 * tasks * 4)
      }).pipe(
        Effect.provide(
          engineLayer({ templates: [Chain], settings: { deploymentMode: "event_driven", pollIntervalMs: 60_000 } }).pipe(
            Layer.provideMerge(db.layer)
          )
        )
      ), 60_000)

    // Polling mode with a one-minute interval: no listener, and a waiter re-reads its task only every minute. The
    // creation wakes the local worker itself; whoever commits the task's end in this process wakes its waiters.
    const waitsBriefly = (taskUuid: string) =>
      Effect.gen(function*() {
        const queries = yield* TaskQueries
        const started = Date.now()
        const done = yield* queries.waitForCompletion(taskUuid as TaskUuid, { timeout: "15 seconds" })
        assert.isBelow(Date.now() - started, 10_000, "the waiter waited for its poll interval")
        return done.status
      })
    const pollingEngine = (settings: Partial<EngineSettings>) =>
      engineLayer({
        templates: [Chain, Stuck, Gated],
        settings: { deploymentMode: "polling", pollIntervalMs: 60_000, shutdownGraceMs: 0, ...settings }
      }).pipe(Layer.provideMerge(db.layer))

    it.live("a task's waiter in the worker's process is woken by the worker's own result, not by the notification", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        for (let i = 0; i < 3; i++) {
          const created = yield* init.createTask({ namespace: "wakeups", name: "chain", version: "1.0.0", context: {} })
          assert.strictEqual(yield* waitsBriefly(created.task_uuid), "complete")
        }
      }).pipe(Effect.provide(pollingEngine({}))), 60_000)

    it.live("… by the orchestrator's result processing when results go through the results queue", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const created = yield* init.createTask({ namespace: "wakeups", name: "chain", version: "1.0.0", context: {} })
        assert.strictEqual(yield* waitsBriefly(created.task_uuid), "complete")
      }).pipe(Effect.provide(pollingEngine({ inlineResultProcessing: false }))), 60_000)

    it.live("a worker whose result finishes a task hands the task's row to its watchers: the row a read gives", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const wakeups = yield* Wakeups
        yield* gate.close
        const created = yield* init.createTask({ namespace: "wakeups", name: "gated", version: "1.0.0", context: { n: 1 } })
        const watch = yield* wakeups.watchTask(created.task_uuid)
        yield* gate.open
        // (polling mode, one-minute interval: only the worker's own event can end this wait in time)
        const handed = yield* watch.await.pipe(Effect.timeout("10 seconds"))
        assert.isDefined(handed, "the event carried the task's row")
        assert.strictEqual(handed!.status, "complete")
        assert.deepStrictEqual(handed, yield* queries.getTask(created.task_uuid))
      }).pipe(Effect.scoped, Effect.provide(pollingEngine({}))), 60_000)

    it.live("a waiter takes the row an event carries when it is finished, and reads the task otherwise", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const wakeups = yield* Wakeups
        const operations = yield* TaskOperations
        const stuck = () =>
          Effect.gen(function*() {
            const created = yield* init.createTask({ namespace: "wakeups", name: "stuck", version: "1.0.0", context: {} })
            const row = yield* queries.getTask(created.task_uuid)
            const waiter = yield* Effect.forkChild(queries.waitForCompletion(created.task_uuid, { timeout: "15 seconds" }))
            yield* Effect.sleep("300 millis")
            return { row, waiter }
          })

        // a row that is not finished (say, a stale one) is not taken: the waiter reads, and goes on waiting
        const first = yield* stuck()
        yield* wakeups.publishTaskEvent({ taskUuid: first.row.task_uuid, state: "complete", task: first.row })
        yield* Effect.sleep("300 millis")
        assert.isUndefined(first.waiter.pollUnsafe(), "still waiting after an unfinished row")
        yield* operations.cancelTask(first.row.task_uuid)
        assert.strictEqual((yield* Fiber.join(first.waiter)).status, "cancelled")

        // a finished row is returned as it came, without reading the task (which still says steps_in_process), even
        // when an event without a row (the same change's notification) follows before the waiter runs
        const second = yield* stuck()
        const handed = { ...second.row, status: "error" as const, reason: "from the event" }
        yield* wakeups.publishTaskEvent({ taskUuid: second.row.task_uuid, state: "error", task: handed })
        yield* wakeups.publishTaskEvent({ taskUuid: second.row.task_uuid, state: "error" })
        assert.deepStrictEqual(yield* Fiber.join(second.waiter), handed)
        assert.strictEqual((yield* queries.getTask(second.row.task_uuid)).status, "steps_in_process")
        yield* operations.cancelTask(second.row.task_uuid)
      }).pipe(Effect.provide(pollingEngine({}))), 60_000)

    // (PostgreSQL only: PGlite's client sends such a date in a form the server refuses, so the creation fails there)
    it.live.skipIf(db.name === "PGlite")("a task whose row does not decode from the database's JSON (requested past year 9999) still completes, its waiter reading it", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const requestedAt = new Date("+010000-01-01T00:00:00.000Z")
        const created = yield* init.createTask({
          namespace: "wakeups",
          name: "chain",
          version: "1.0.0",
          context: {},
          requested_at: requestedAt
        })
        const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "15 seconds" })
        assert.strictEqual(done.status, "complete")
        assert.strictEqual(done.requested_at.getTime(), requestedAt.getTime())
        // every result went through the worker's submission whole (a row that failed to decode failed the whole
        // batch after its commit, children handed off in it included)
        const processed = yield* Metric.value(Metric.withAttributes(Metrics.resultsSubmitted, {
          result_type: "processed",
          correlation_id: created.correlation_id
        }))
        assert.strictEqual(processed.count, 4)
      }).pipe(Effect.provide(pollingEngine({ pollIntervalMs: 1_000 }))), 60_000)

    it.live("tasker_finished_task_record renders a finished task's row as a read gives it, and nothing otherwise", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const sql = yield* SqlClient.SqlClient
        const created = yield* init.createTask({
          namespace: "wakeups",
          name: "chain",
          version: "1.0.0",
          context: { order: 7, items: ["a"] },
          tags: ["x"],
          initiator: "tester",
          reason: "record"
        })
        const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "15 seconds" })
        const record = (state: string) =>
          Effect.map(
            sql<{ record: unknown }>`SELECT tasker_finished_task_record(${created.task_uuid}::uuid, ${state}) AS record`,
            (rows) => rows[0]!.record
          )
        const decoded = yield* Schema.decodeUnknownEffect(TaskRecordFromJson)(yield* record("complete"))
        assert.deepStrictEqual(decoded, yield* queries.getTask(created.task_uuid))
        assert.deepStrictEqual(decoded, done)
        assert.isNull(yield* record("steps_in_process"))
      }).pipe(Effect.provide(pollingEngine({}))), 60_000)

    it.live("… and by an operator's cancel", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const operations = yield* TaskOperations
        const created = yield* init.createTask({ namespace: "wakeups", name: "stuck", version: "1.0.0", context: {} })
        const waiter = yield* Effect.forkChild(waitsBriefly(created.task_uuid))
        yield* Effect.sleep("300 millis")
        yield* operations.cancelTask(created.task_uuid as TaskUuid)
        assert.strictEqual(yield* Fiber.join(waiter), "cancelled")
      }).pipe(Effect.provide(pollingEngine({}))), 60_000)
  })
}
