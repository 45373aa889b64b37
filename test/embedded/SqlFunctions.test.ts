/**
 * The engine's SQL functions on the embedded database: readiness along the example graphs, execution contexts,
 * compare-and-set transitions (concurrent writers: one wins), discovery claims and the message queue functions.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import { embeddedLayer } from "../../layers/embedded.ts"
import { Processors } from "../../src/db/Processors.ts"
import { DiscoveryFunctions, ReadinessFunctions, type StepReadinessStatus } from "../../src/db/SqlFunctions.ts"
import type { ProcessorUuid } from "../../src/domain/Ids.ts"
import { Transitions } from "../../src/db/Transitions.ts"
import { createTask, forceStepState, forceTaskState, graphs, secondsFromNow } from "../support/Fixtures.ts"

const readyNames = (rows: ReadonlyArray<StepReadinessStatus>) =>
  rows.filter((r) => r.ready_for_execution).map((r) => r.name).sort()

const registered = Effect.gen(function*() {
  const processorUuid = uuidv7() as ProcessorUuid
  yield* (yield* Processors).register({ processorUuid, role: "orchestrator", hostname: "test", pid: process.pid })
  return processorUuid
})

layer(embeddedLayer(), { excludeTestServices: true })("SQL functions on PGlite", (it) => {
  it.effect("readiness follows the diamond: start, both branches, then the join", () =>
    Effect.gen(function*() {
      const fns = yield* ReadinessFunctions
      const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
      assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["start"])
      yield* forceStepState(steps.start!, "complete")
      assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["branch_b", "branch_c"])
      yield* forceStepState(steps.branch_b!, "complete")
      const rows = yield* fns.stepReadinessStatus(taskUuid)
      const end = rows.find((r) => r.name === "end")!
      assert.deepStrictEqual([end.total_parents, end.completed_parents, end.ready_for_execution], [2, 1, false])
      yield* forceStepState(steps.branch_c!, "complete")
      assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["end"])
      const context = yield* fns.taskExecutionContext(taskUuid)
      assert.deepStrictEqual(
        [context.total_steps, context.completed_steps, context.ready_steps, context.execution_status, context.completion_percentage],
        [4, 3, 1, "has_ready_steps", 75]
      )
    }))

  it.effect("a step backing off is not ready until its retry time; timestamps come back as Dates", () =>
    Effect.gen(function*() {
      const fns = yield* ReadinessFunctions
      const { steps, taskUuid } = yield* createTask({
        steps: [{ name: "only", maxAttempts: 5, backoff: "exponential", backoffBaseMs: 10_000 }]
      })
      const failedAt = secondsFromNow(-15)
      yield* forceStepState(steps.only!, "waiting_for_retry", { attempts: 2, at: failedAt })
      const [row] = yield* fns.stepReadinessStatus(taskUuid)
      assert.instanceOf(row!.last_failure_at, Date)
      assert.strictEqual(row!.last_failure_at!.getTime(), failedAt.getTime())
      // exponential: 10 s * 2^(2-1) after the failure
      assert.strictEqual(row!.next_retry_at!.getTime(), failedAt.getTime() + 20_000)
      assert.isTrue(row!.retry_eligible)
      assert.isFalse(row!.ready_for_execution)
      const context = yield* fns.taskExecutionContext(taskUuid)
      assert.deepStrictEqual([context.execution_status, context.health_status], ["waiting_for_retry", "recovering"])
      const due = yield* createTask({
        steps: [{ name: "only", maxAttempts: 5, backoff: "exponential", backoffBaseMs: 10_000 }]
      })
      yield* forceStepState(due.steps.only!, "waiting_for_retry", { attempts: 2, at: secondsFromNow(-25) })
      assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(due.taskUuid)), ["only"])
    }))

  it.effect("task transitions write the audit trail; of two concurrent writers exactly one wins", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const transitions = yield* Transitions
      const a = yield* registered
      const b = yield* registered
      for (let round = 0; round < 5; round++) {
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        const outcomes = yield* Effect.all(
          [a, b].map((processorUuid) =>
            Effect.result(transitions.task(taskUuid, { _tag: "Start" }, { processorUuid, expected: "pending" }))
          ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter((o) => o._tag === "Success").length, 1)
        const loss = outcomes.find((o) => o._tag === "Failure")
        assert.strictEqual(loss?._tag === "Failure" ? loss.failure._tag : undefined, "StaleState")
        const history = yield* sql<{ from_state: string | null; to_state: string; sort_key: number; most_recent: boolean }>`
          SELECT from_state, to_state, sort_key, most_recent FROM tasker_task_transitions
          WHERE task_uuid = ${taskUuid} ORDER BY sort_key`
        assert.deepStrictEqual(history.map((h) => [h.from_state, h.to_state, h.sort_key, h.most_recent]), [
          [null, "pending", 1, false],
          ["pending", "initializing", 2, true]
        ])
      }
    }))

  it.effect("step transitions apply their row effects; a claim counts one attempt", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const transitions = yield* Transitions
      const { steps } = yield* createTask({ steps: graphs.linear })
      const step = steps.step_1!
      yield* transitions.step(step, { _tag: "Enqueue" })
      const claims = yield* Effect.all(
        [1, 2].map(() => Effect.result(transitions.step(step, { _tag: "Start" }, { expected: "enqueued" }))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(claims.filter((o) => o._tag === "Success").length, 1)
      const envelope = { success: true, result: "36" }
      yield* transitions.step(step, { _tag: "EnqueueForOrchestration" }, { results: envelope, expectedAttempts: 1 })
      yield* transitions.step(step, { _tag: "Complete" })
      const [row] = yield* sql<{ current_state: string; attempts: number; processed: boolean; processed_at: Date; results: unknown }>`
        SELECT current_state, attempts, processed, processed_at, results FROM tasker_workflow_steps
        WHERE workflow_step_uuid = ${step}`
      assert.deepStrictEqual([row!.current_state, row!.attempts, row!.processed], ["complete", 1, true])
      assert.instanceOf(row!.processed_at, Date)
      assert.deepStrictEqual(row!.results, envelope)
    }))

  it.effect("discovery claims a pending task once and skips a task backing off", () =>
    Effect.gen(function*() {
      const discovery = yield* DiscoveryFunctions
      const sql = yield* SqlClient.SqlClient
      // only this test's tasks are candidates
      yield* sql`UPDATE tasker_tasks SET current_state = 'complete'`
      const processorUuid = yield* registered
      const pending = yield* createTask({ steps: graphs.linear })
      const backingOff = yield* createTask({ steps: graphs.linear })
      yield* forceStepState(backingOff.steps.step_1!, "waiting_for_retry", {
        attempts: 1,
        lastAttemptedAt: new Date(),
        backoffRequestSeconds: 600
      })
      yield* forceTaskState(backingOff.taskUuid, "waiting_for_retry")
      const claimed = yield* discovery.nextReadyTasks({ limit: 10, processorUuid })
      assert.deepStrictEqual(claimed.map((c) => [c.task_uuid, c.current_state, c.claimed_state]), [
        [pending.taskUuid, "pending", "initializing"]
      ])
      assert.deepStrictEqual(yield* discovery.nextReadyTasks({ limit: 10, processorUuid }), [])
    }))
})

/** Dead rows and vacuum runs of the engine's tables, from freshly flushed statistics. */
const tableStats = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT pg_stat_force_next_flush()`
  yield* sql`SELECT pg_stat_clear_snapshot()`
  const [row] = yield* sql<{ dead: number; vacuums: number }>`
    SELECT COALESCE(sum(n_dead_tup), 0)::int AS dead, COALESCE(sum(vacuum_count), 0)::int AS vacuums
    FROM pg_stat_user_tables WHERE relname = 'tasker_workflow_step_transitions'`
  return row!
})

layer(embeddedLayer({ vacuumInterval: "300 millis" }), { excludeTestServices: true })("maintenance on PGlite", (it) => {
  it.effect("the periodic vacuum removes the dead rows queues and transitions leave (no autovacuum in PGlite)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker_create_queue('churn')`
      for (let i = 0; i < 20; i++) {
        const [sent] = yield* sql<{ id: bigint }>`SELECT tasker_send('churn', '{}'::jsonb) AS id`
        yield* sql`SELECT tasker_delete('churn', ${sent!.id})`
      }
      const { steps } = yield* createTask({ steps: graphs.linear })
      for (const state of ["enqueued", "in_progress", "complete"] as const) yield* forceStepState(steps.step_1!, state)
      const before = yield* tableStats
      assert.isAbove(before.dead, 0)
      yield* Effect.sleep("1 second")
      const after = yield* tableStats
      assert.isAbove(after.vacuums, before.vacuums)
      assert.strictEqual(after.dead, 0)
    }))
})
