/**
 * Task and step transitions through the SQL functions, one suite run against each database
 * (test/db/Transitions.test.ts, test/embedded/SqlFunctions.test.ts): the audit trail, compare-and-set (of concurrent
 * writers one wins), processor ownership, the row effects of step states, and how database failures surface.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { SqlClient } from "effect/sql"
import type { ProcessorUuid, StepUuid, TaskUuid } from "../../../src/domain/Ids.ts"
import { Processors } from "../../../src/db/Processors.ts"
import { TransitionFunctions } from "../../../src/db/SqlFunctions.ts"
import { Transitions } from "../../../src/db/Transitions.ts"
import { createTask, graphs } from "../Fixtures.ts"
import type { DatabaseUnderTest } from "../Databases.ts"
import { v7 as uuidv7 } from "uuid"

const newProcessor = () => uuidv7() as ProcessorUuid
const UNKNOWN_TASK = "01900000-0000-7000-8000-000000000000" as TaskUuid
const UNKNOWN_STEP = "01900000-0000-7000-8000-000000000001" as StepUuid

const registered = (role = "orchestrator") =>
  Effect.gen(function*() {
    const processorUuid = newProcessor()
    yield* (yield* Processors).register({ processorUuid, role, hostname: "test", pid: process.pid })
    return processorUuid
  })

const taskHistory = (taskUuid: TaskUuid) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{
      from_state: string | null
      to_state: string
      sort_key: number
      processor_uuid: string | null
      metadata: Record<string, unknown>
    }>`SELECT from_state, to_state, sort_key, processor_uuid, metadata
       FROM tasker_task_transitions WHERE task_uuid = ${taskUuid} ORDER BY sort_key`
  })

export const transitionsSuite = (db: DatabaseUnderTest) => {
  layer(db.layer, { excludeTestServices: true })(`task transitions on ${db.name}`, (it) => {
    it.effect("write the audit trail: sort_key 1..n, from/to, processor and event metadata; the latest row is the current state", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        assert.strictEqual(yield* transitions.task(taskUuid, { _tag: "Start" }, { processorUuid }), "initializing")
        assert.strictEqual(
          yield* transitions.task(taskUuid, { _tag: "ReadyStepsFound", count: 1 }, { processorUuid, expected: "initializing" }),
          "enqueuing_steps"
        )
        const history = yield* taskHistory(taskUuid)
        assert.deepStrictEqual(history.map((h) => [h.from_state, h.to_state, h.sort_key]), [
          [null, "pending", 1],
          ["pending", "initializing", 2],
          ["initializing", "enqueuing_steps", 3]
        ])
        assert.strictEqual(history[2]!.processor_uuid, processorUuid)
        assert.deepStrictEqual(history[2]!.metadata, { event: "ReadyStepsFound", count: 1 })
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ current_state: string }>`SELECT current_state FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
        assert.strictEqual(row!.current_state, "enqueuing_steps")
      }))

    it.effect("completion sets complete and completed_at", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        const { taskUuid } = yield* createTask({ steps: [] })
        yield* transitions.task(taskUuid, { _tag: "Start" }, { processorUuid })
        yield* transitions.task(taskUuid, { _tag: "NoStepsFound" }, { processorUuid })
        const [row] = yield* sql<{ complete: boolean; completed_at: Date | null }>`
          SELECT complete, completed_at FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
        assert.isTrue(row!.complete)
        assert.instanceOf(row!.completed_at, Date)
      }))

    it.effect("cancel and give-up also write completed_at; complete stays false", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        yield* transitions.task(taskUuid, { _tag: "Cancel", reason: "no longer needed" }, { processorUuid })
        const [row] = yield* sql<{ complete: boolean; completed_at: Date | null; current_state: string }>`
          SELECT complete, completed_at, current_state FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
        assert.isFalse(row!.complete)
        assert.instanceOf(row!.completed_at, Date)
        assert.strictEqual(row!.current_state, "cancelled")
      }))

    it.effect("an event the machine refuses fails with InvalidTransition and writes nothing", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        const error = yield* Effect.flip(transitions.task(taskUuid, { _tag: "AllStepsSuccessful" }, { processorUuid }))
        assert.strictEqual(error._tag, "InvalidTransition")
        if (error._tag === "InvalidTransition") {
          assert.deepStrictEqual([error.from, error.to, error.event], ["pending", "complete", "AllStepsSuccessful"])
        }
        assert.strictEqual((yield* taskHistory(taskUuid)).length, 1)
      }))

    it.effect("unknown task: NotFound", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const processorUuid = newProcessor()
        const error = yield* Effect.flip(transitions.task(UNKNOWN_TASK, { _tag: "Start" }, { processorUuid }))
        assert.strictEqual(error._tag, "NotFound")
        const withExpected = yield* Effect.flip(
          transitions.task(UNKNOWN_TASK, { _tag: "Start" }, { processorUuid, expected: "pending" })
        )
        assert.strictEqual(withExpected._tag, "NotFound")
      }))

    it.effect("a caller with an outdated expected state loses with StaleState", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        yield* transitions.task(taskUuid, { _tag: "Start" }, { processorUuid })
        const error = yield* Effect.flip(
          transitions.task(taskUuid, { _tag: "Start" }, { processorUuid, expected: "pending" })
        )
        assert.strictEqual(error._tag, "StaleState")
        if (error._tag === "StaleState") {
          assert.deepStrictEqual([error.expected, error.actual], ["pending", "initializing"])
        }
      }))

    it.effect("two concurrent writers of the same transition: exactly one wins, the other gets StaleState", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const a = yield* registered()
        const b = yield* registered()
        for (let round = 0; round < 20; round++) {
          const { taskUuid } = yield* createTask({ steps: graphs.linear })
          const outcomes = yield* Effect.all(
            [a, b].map((processorUuid) =>
              Effect.result(transitions.task(taskUuid, { _tag: "Start" }, { processorUuid, expected: "pending" }))
            ),
            { concurrency: "unbounded" }
          )
          const wins = outcomes.filter((o) => o._tag === "Success")
          const losses = outcomes.filter((o) => o._tag === "Failure")
          assert.strictEqual(wins.length, 1, `round ${round}`)
          assert.strictEqual(losses.length, 1, `round ${round}`)
          if (losses[0]!._tag === "Failure") assert.strictEqual(losses[0]!.failure._tag, "StaleState")
          const history = yield* taskHistory(taskUuid)
          assert.deepStrictEqual(history.map((h) => [h.from_state, h.to_state, h.sort_key]), [
            [null, "pending", 1],
            ["pending", "initializing", 2]
          ])
        }
      }))

    // Only where each writer has a session of its own: in PGlite's one session the holder's transaction keeps the
    // writers out before they reach the row lock (PgliteClient.test.ts, "a transaction keeps statements of other
    // fibers out until it ends").
    if (db.sessions === "many") it.effect("writers queued on the same row lock: after the lock is released one applies, the other gets StaleState", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const transitions = yield* Transitions
        const a = yield* registered()
        const b = yield* registered()
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        // hold the task row lock so both writers are waiting inside transition_task_state_atomic at once
        const holder = yield* Effect.forkChild(sql.withTransaction(
          sql`SELECT 1 FROM tasker_tasks WHERE task_uuid = ${taskUuid} FOR UPDATE`.pipe(Effect.andThen(Effect.sleep("300 millis")))
        ))
        yield* Effect.sleep("50 millis")
        const writers = yield* Effect.forkChild(Effect.all(
          [a, b].map((processorUuid) =>
            Effect.result(transitions.task(taskUuid, { _tag: "Start" }, { processorUuid, expected: "pending" }))
          ),
          { concurrency: "unbounded" }
        ))
        yield* Effect.sleep("100 millis")
        const [waiting] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%transition_task_state_atomic%'`
        assert.strictEqual(waiting!.n, 2)
        yield* Fiber.join(holder)
        const outcomes = yield* Fiber.join(writers)
        assert.strictEqual(outcomes.filter((o) => o._tag === "Success").length, 1)
        const loss = outcomes.find((o) => o._tag === "Failure")
        assert.strictEqual(loss?._tag === "Failure" ? loss.failure._tag : undefined, "StaleState")
        assert.deepStrictEqual((yield* taskHistory(taskUuid)).map((h) => h.to_state), ["pending", "initializing"])
      }))

    it.effect("two concurrent writers of different transitions: one applies, the other loses, history stays linear", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const processorUuid = yield* registered()
        for (let round = 0; round < 10; round++) {
          const { taskUuid } = yield* createTask({ steps: graphs.linear })
          const outcomes = yield* Effect.all(
            [
              transitions.task(taskUuid, { _tag: "Start" }, { processorUuid, expected: "pending" }),
              transitions.task(taskUuid, { _tag: "Cancel", reason: "race" }, { processorUuid, expected: "pending" })
            ].map(Effect.result),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(outcomes.filter((o) => o._tag === "Success").length, 1)
          const history = yield* taskHistory(taskUuid)
          assert.strictEqual(history.length, 2)
          assert.deepStrictEqual(history.map((h) => h.sort_key), [1, 2])
          assert.strictEqual(history[1]!.from_state, "pending")
        }
      }))

    describe("processor ownership", () => {
      it.effect("an owned state refuses another live processor, is released on leaving it, and a stale owner can be taken over", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const transitions = yield* Transitions
          const owner = yield* registered()
          const other = yield* registered()
          const { taskUuid } = yield* createTask({ steps: graphs.linear })
          yield* transitions.task(taskUuid, { _tag: "Start" }, { processorUuid: owner })

          const conflict = yield* Effect.flip(
            transitions.task(taskUuid, { _tag: "ReadyStepsFound", count: 1 }, { processorUuid: other })
          )
          assert.strictEqual(conflict._tag, "OwnershipConflict")
          if (conflict._tag === "OwnershipConflict") assert.strictEqual(conflict.ownerProcessorUuid, owner)

          // the owner moves on through owned states, then leaves them: anyone may act on steps_in_process
          yield* transitions.task(taskUuid, { _tag: "ReadyStepsFound", count: 1 }, { processorUuid: owner })
          yield* transitions.task(taskUuid, { _tag: "StepsEnqueued", stepUuids: [] }, { processorUuid: owner })
          assert.strictEqual(
            yield* transitions.task(taskUuid, { _tag: "StepCompleted", stepUuid: "x" }, { processorUuid: other }),
            "evaluating_results"
          )

          // now `other` owns it; once its heartbeat is stale, `owner` may take over
          const refused = yield* Effect.flip(
            transitions.task(taskUuid, { _tag: "StepsInProcess" }, { processorUuid: owner })
          )
          assert.strictEqual(refused._tag, "OwnershipConflict")
          yield* sql`UPDATE tasker_processors SET last_heartbeat_at = now() - interval '2 minutes' WHERE processor_uuid = ${other}`
          assert.strictEqual(
            yield* transitions.task(taskUuid, { _tag: "TakeOver", previousProcessorUuid: other }, { processorUuid: owner }),
            "evaluating_results"
          )
          const history = yield* taskHistory(taskUuid)
          assert.deepStrictEqual(history.at(-1)!.processor_uuid, owner)
          assert.deepStrictEqual(history.at(-1)!.from_state, "evaluating_results")
        }))

      it.effect("a stopped owner is not live; an owner that never registered is not live", () =>
        Effect.gen(function*() {
          const transitions = yield* Transitions
          const processors = yield* Processors
          const stopped = yield* registered()
          const other = yield* registered()
          const first = yield* createTask({ steps: graphs.linear })
          yield* transitions.task(first.taskUuid, { _tag: "Start" }, { processorUuid: stopped })
          yield* processors.markStopped(stopped)
          assert.strictEqual(
            yield* transitions.task(first.taskUuid, { _tag: "ReadyStepsFound", count: 1 }, { processorUuid: other }),
            "enqueuing_steps"
          )
          const second = yield* createTask({ steps: graphs.linear })
          yield* transitions.task(second.taskUuid, { _tag: "Start" }, { processorUuid: newProcessor() })
          assert.strictEqual(
            yield* transitions.task(second.taskUuid, { _tag: "NoDependenciesReady" }, { processorUuid: other }),
            "waiting_for_dependencies"
          )
        }))
    })
  })

  layer(db.layer, { excludeTestServices: true })(`step transitions on ${db.name}`, (it) => {
    const stepRow = (stepUuid: StepUuid) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{
          current_state: string
          attempts: number
          in_process: boolean
          processed: boolean
          processed_at: Date | null
          last_attempted_at: Date | null
          results: unknown
          backoff_request_seconds: number | null
        }>`SELECT current_state, attempts, in_process, processed, processed_at, last_attempted_at, results,
                  backoff_request_seconds
           FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
        return row!
      })

    it.effect("the happy path applies the row effects of each state", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const { steps } = yield* createTask({ steps: graphs.linear })
        const step = steps.step_1!
        yield* transitions.step(step, { _tag: "Enqueue" })
        const claimed = yield* transitions.step(step, { _tag: "Start" }, { expected: "enqueued" })
        assert.deepStrictEqual(claimed, { state: "in_progress", attempts: 1 })
        let row = yield* stepRow(step)
        assert.isTrue(row.in_process)
        assert.instanceOf(row.last_attempted_at, Date)

        const envelope = { success: true, result: { value: 36 } }
        yield* transitions.step(step, { _tag: "EnqueueForOrchestration" }, { results: envelope, expectedAttempts: 1 })
        row = yield* stepRow(step)
        assert.isFalse(row.in_process)
        assert.isFalse(row.processed)
        assert.deepStrictEqual(row.results, envelope)

        yield* transitions.step(step, { _tag: "Complete" })
        row = yield* stepRow(step)
        assert.strictEqual(row.current_state, "complete")
        assert.strictEqual(row.attempts, 1)
        assert.isTrue(row.processed)
        assert.instanceOf(row.processed_at, Date)
        assert.deepStrictEqual(row.results, envelope)
      }))

    it.effect("two workers claiming the same step: one claim, one StaleState, one attempt counted", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        for (let round = 0; round < 20; round++) {
          const { steps } = yield* createTask({ steps: graphs.linear })
          const step = steps.step_1!
          yield* transitions.step(step, { _tag: "Enqueue" })
          const outcomes = yield* Effect.all(
            [1, 2].map(() => Effect.result(transitions.step(step, { _tag: "Start" }, { expected: "enqueued" }))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(outcomes.filter((o) => o._tag === "Success").length, 1)
          const failure = outcomes.find((o) => o._tag === "Failure")
          if (failure?._tag === "Failure") assert.strictEqual(failure.failure._tag, "StaleState")
          assert.strictEqual((yield* stepRow(step)).attempts, 1)
        }
      }))

    it.effect("a superseded claim cannot write its result (attempts guard)", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const { steps } = yield* createTask({ steps: graphs.linear })
        const step = steps.step_1!
        yield* transitions.step(step, { _tag: "Enqueue" })
        const first = yield* transitions.step(step, { _tag: "Start" })
        const second = yield* transitions.step(step, { _tag: "Reclaim" })
        assert.deepStrictEqual([first.attempts, second.attempts], [1, 2])
        const late = yield* Effect.flip(
          transitions.step(step, { _tag: "EnqueueForOrchestration" }, { expectedAttempts: first.attempts, results: {} })
        )
        assert.strictEqual(late._tag, "StaleState")
        const current = yield* transitions.step(
          step,
          { _tag: "EnqueueForOrchestration" },
          { expectedAttempts: second.attempts, results: { ok: true } }
        )
        assert.strictEqual(current.state, "enqueued_for_orchestration")
      }))

    it.effect("retry after a backoff keeps the attempts; an operator's retry after an error resets them", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const transitions = yield* Transitions
        const { steps } = yield* createTask({ steps: graphs.linear })
        const step = steps.step_1!
        yield* transitions.step(step, { _tag: "Enqueue" })
        yield* transitions.step(step, { _tag: "Start" })
        yield* transitions.step(step, { _tag: "EnqueueAsErrorForOrchestration" }, { results: { success: false } })
        yield* transitions.step(step, { _tag: "WaitForRetry", message: "timeout" })
        yield* sql`UPDATE tasker_workflow_steps SET backoff_request_seconds = 5 WHERE workflow_step_uuid = ${step}`
        yield* transitions.step(step, { _tag: "Retry" })
        assert.strictEqual((yield* stepRow(step)).attempts, 1)

        yield* transitions.step(step, { _tag: "Enqueue" })
        yield* transitions.step(step, { _tag: "Start" })
        yield* transitions.step(step, { _tag: "EnqueueAsErrorForOrchestration" }, { results: { success: false } })
        yield* transitions.step(step, { _tag: "Fail", message: "bad input" })
        let row = yield* stepRow(step)
        assert.deepStrictEqual([row.current_state, row.attempts, row.in_process], ["error", 2, false])
        yield* transitions.step(step, { _tag: "Retry" })
        row = yield* stepRow(step)
        assert.deepStrictEqual([row.current_state, row.attempts, row.backoff_request_seconds], ["pending", 0, null])
      }))

    it.effect("manual resolution stores the supplied result and marks the step processed; complete is final", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const { steps } = yield* createTask({ steps: graphs.linear })
        const step = steps.step_1!
        yield* transitions.step(step, { _tag: "ResolveManually", resolvedBy: "ops", reason: "by hand" }, {
          results: { result: 36 }
        })
        const row = yield* stepRow(step)
        assert.deepStrictEqual([row.current_state, row.processed, row.results], ["resolved_manually", true, { result: 36 }])
        const error = yield* Effect.flip(transitions.step(step, { _tag: "ResolveManually", resolvedBy: "ops", reason: "again" }))
        assert.strictEqual(error._tag, "InvalidTransition")
      }))

    it.effect("unknown step: NotFound, from the machine and from the SQL function", () =>
      Effect.gen(function*() {
        const transitions = yield* Transitions
        const fns = yield* TransitionFunctions
        assert.strictEqual((yield* Effect.flip(transitions.step(UNKNOWN_STEP, { _tag: "Enqueue" })))._tag, "NotFound")
        const direct = yield* Effect.flip(
          fns.transitionStepStateAtomic({ stepUuid: UNKNOWN_STEP, from: "pending", to: "enqueued" })
        )
        assert.strictEqual(direct._tag, "NotFound")
      }))
  })

  layer(db.layer, { excludeTestServices: true })(`database failures on ${db.name}`, (it) => {
    it.effect("keep their SqlError reason (a duplicate identity hash is a UniqueViolation)", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { taskUuid } = yield* createTask({ steps: [] })
        const error = yield* Effect.flip(sql`
          INSERT INTO tasker_tasks (named_task_uuid, identity_hash, correlation_id)
          SELECT named_task_uuid, identity_hash, correlation_id FROM tasker_tasks WHERE task_uuid = ${taskUuid}`)
        assert.strictEqual(error._tag, "SqlError")
        assert.strictEqual(error.reason._tag, "UniqueViolation")
      }))

    it.effect("the schema refuses self-edges and duplicate edges", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { steps } = yield* createTask({ steps: graphs.linear })
        const self = yield* Effect.flip(
          sql`INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid) VALUES (${steps.step_1!}, ${steps.step_1!})`
        )
        assert.strictEqual(self.reason._tag, "ConstraintError")
        const duplicate = yield* Effect.flip(
          sql`INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid) VALUES (${steps.step_1!}, ${steps.step_2!})`
        )
        assert.strictEqual(duplicate.reason._tag, "UniqueViolation")
      }))

    it.effect("several versions of one task type coexist; the same version twice does not", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTask({ steps: [], name: "versioned", version: "1.0.0" })
        yield* createTask({ steps: [], name: "versioned", version: "2.0.0" })
        const rows = yield* sql<{ version: string }>`SELECT version FROM tasker_named_tasks WHERE name = 'versioned' ORDER BY version`
        assert.deepStrictEqual(rows.map((r) => r.version), ["1.0.0", "2.0.0"])
        const duplicate = yield* Effect.flip(sql`
          INSERT INTO tasker_named_tasks (task_namespace_uuid, name, version)
          SELECT task_namespace_uuid, name, version FROM tasker_named_tasks WHERE name = 'versioned' AND version = '1.0.0'`)
        assert.strictEqual(duplicate.reason._tag, "UniqueViolation")
      }))
  })
}
