/**
 * The readiness functions (get_step_readiness_status, get_task_execution_context, the DAG helpers), one suite run
 * against each database (test/db/Readiness.test.ts, test/embedded/SqlFunctions.test.ts): dependency satisfaction
 * along the example graphs, retry eligibility and backoff, execution status and health.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { StepUuid, TaskUuid } from "../../../src/domain/Ids.ts"
import { ReadinessFunctions, type StepReadinessStatus } from "../../../src/db/SqlFunctions.ts"
import { createTask, forceStepState, graphs, secondsFromNow } from "../Fixtures.ts"
import type { DatabaseUnderTest } from "../Databases.ts"

const UNKNOWN_TASK = "01900000-0000-7000-8000-000000000000" as TaskUuid
const UNKNOWN_STEP = "01900000-0000-7000-8000-000000000001" as StepUuid

const byName = (rows: ReadonlyArray<StepReadinessStatus>) => Object.fromEntries(rows.map((r) => [r.name, r]))
const readyNames = (rows: ReadonlyArray<StepReadinessStatus>) =>
  rows.filter((r) => r.ready_for_execution).map((r) => r.name).sort()

export const readinessSuite = (db: DatabaseUnderTest) => {
  layer(db.layer, { excludeTestServices: true })(`get_step_readiness_status on ${db.name}`, (it) => {
    describe("dependency satisfaction", () => {
      it.effect("linear: one step at a time, in order", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
          let rows = yield* fns.stepReadinessStatus(taskUuid)
          assert.strictEqual(rows.length, 4)
          assert.deepStrictEqual(readyNames(rows), ["step_1"])
          assert.deepStrictEqual(
            rows.map((r) => [r.name, r.total_parents, r.completed_parents, r.dependencies_satisfied]).sort(),
            [["step_1", 0, 0, true], ["step_2", 1, 0, false], ["step_3", 1, 0, false], ["step_4", 1, 0, false]]
          )
          yield* forceStepState(steps.step_1!, "complete")
          rows = yield* fns.stepReadinessStatus(taskUuid)
          assert.deepStrictEqual(readyNames(rows), ["step_2"])
          yield* forceStepState(steps.step_2!, "complete")
          yield* forceStepState(steps.step_3!, "complete")
          rows = yield* fns.stepReadinessStatus(taskUuid)
          assert.deepStrictEqual(readyNames(rows), ["step_4"])
        }))

      it.effect("diamond: both branches after the start, the join after both branches", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
          assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["start"])
          yield* forceStepState(steps.start!, "complete")
          assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["branch_b", "branch_c"])
          yield* forceStepState(steps.branch_b!, "complete")
          const rows = byName(yield* fns.stepReadinessStatus(taskUuid))
          assert.strictEqual(rows.end!.total_parents, 2)
          assert.strictEqual(rows.end!.completed_parents, 1)
          assert.isFalse(rows.end!.ready_for_execution)
          assert.isTrue(rows.branch_c!.ready_for_execution)
          yield* forceStepState(steps.branch_c!, "complete")
          assert.deepStrictEqual(readyNames(yield* fns.stepReadinessStatus(taskUuid)), ["end"])
          const context = yield* fns.taskExecutionContext(taskUuid)
          assert.deepStrictEqual(
            [context.total_steps, context.completed_steps, context.ready_steps, context.execution_status, context.completion_percentage],
            [4, 3, 1, "has_ready_steps", 75]
          )
        }))

      it.effect("tree: the final convergence waits for all four leaves; resolved_manually satisfies a dependency", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: graphs.tree })
          for (const name of ["root", "left", "right", "leaf_d", "leaf_e", "leaf_f"]) {
            yield* forceStepState(steps[name]!, "complete")
          }
          let rows = byName(yield* fns.stepReadinessStatus(taskUuid))
          assert.strictEqual(rows.final!.total_parents, 4)
          assert.strictEqual(rows.final!.completed_parents, 3)
          assert.deepStrictEqual(readyNames(Object.values(rows)), ["leaf_g"])
          yield* forceStepState(steps.leaf_g!, "resolved_manually")
          rows = byName(yield* fns.stepReadinessStatus(taskUuid))
          assert.isTrue(rows.final!.dependencies_satisfied)
          assert.deepStrictEqual(readyNames(Object.values(rows)), ["final"])
        }))

      it.effect("filters by step uuids; steps in process, enqueued or done are not ready", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
          yield* forceStepState(steps.start!, "complete")
          yield* forceStepState(steps.branch_b!, "in_progress")
          yield* forceStepState(steps.branch_c!, "enqueued")
          const rows = yield* fns.stepReadinessStatus(taskUuid, [steps.branch_b!, steps.branch_c!])
          assert.deepStrictEqual(rows.map((r) => r.name).sort(), ["branch_b", "branch_c"])
          assert.deepStrictEqual(readyNames(rows), [])
          assert.deepStrictEqual(rows.map((r) => r.current_state).sort(), ["enqueued", "in_progress"])
        }))
    })

    describe("retry eligibility and backoff", () => {
      it.effect("an explicit backoff counts from the failure, not from when the attempt started", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: [{ name: "only", maxAttempts: 3 }] })
          // the attempt started 60 s ago and failed 10 s ago: a 30 s backoff runs until 20 s from now
          const failedAt = secondsFromNow(-10)
          yield* forceStepState(steps.only!, "waiting_for_retry", {
            attempts: 1,
            lastAttemptedAt: secondsFromNow(-60),
            backoffRequestSeconds: 30,
            at: failedAt
          })
          let [row] = yield* fns.stepReadinessStatus(taskUuid)
          assert.isTrue(row!.retry_eligible)
          assert.isFalse(row!.ready_for_execution)
          assert.strictEqual(row!.next_retry_at!.getTime(), failedAt.getTime() + 30_000)

          const later = yield* createTask({ steps: [{ name: "only", maxAttempts: 3 }] })
          yield* forceStepState(later.steps.only!, "waiting_for_retry", {
            attempts: 1,
            lastAttemptedAt: secondsFromNow(-60),
            backoffRequestSeconds: 30,
            at: secondsFromNow(-40)
          })
          ;[row] = yield* fns.stepReadinessStatus(later.taskUuid)
          assert.isTrue(row!.ready_for_execution)
        }))

      it.effect("without a backoff request the step's policy counts from the failure", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({
            steps: [{ name: "only", maxAttempts: 5, backoff: "exponential", backoffBaseMs: 10_000 }]
          })
          // second failure: exponential 10 s * 2^(2-1) = 20 s after the failure
          const failedAt = secondsFromNow(-15)
          yield* forceStepState(steps.only!, "waiting_for_retry", { attempts: 2, at: failedAt })
          let [row] = yield* fns.stepReadinessStatus(taskUuid)
          // timestamps come back as Dates, to the millisecond
          assert.instanceOf(row!.last_failure_at, Date)
          assert.strictEqual(row!.last_failure_at!.getTime(), failedAt.getTime())
          assert.strictEqual(row!.next_retry_at!.getTime(), failedAt.getTime() + 20_000)
          assert.isTrue(row!.retry_eligible)
          assert.isFalse(row!.ready_for_execution)
          const context = yield* fns.taskExecutionContext(taskUuid)
          assert.deepStrictEqual([context.execution_status, context.health_status], ["waiting_for_retry", "recovering"])

          const later = yield* createTask({
            steps: [{ name: "only", maxAttempts: 5, backoff: "exponential", backoffBaseMs: 10_000 }]
          })
          yield* forceStepState(later.steps.only!, "waiting_for_retry", { attempts: 2, at: secondsFromNow(-25) })
          ;[row] = yield* fns.stepReadinessStatus(later.taskUuid)
          assert.isTrue(row!.ready_for_execution)
        }))

      it.effect("the backoff policies: none, linear, fibonacci, capped at max_backoff_ms", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ backoff: string; n: number; ms: number }>`
            SELECT b AS backoff, n, (extract(epoch FROM calculate_backoff_delay(n, b, 1000, 6000)) * 1000)::int AS ms
            FROM unnest(ARRAY['none', 'linear', 'exponential', 'fibonacci']) AS b, generate_series(1, 5) AS n
            ORDER BY b, n`
          const table = Object.fromEntries(
            ["none", "linear", "exponential", "fibonacci"].map((b) => [b, rows.filter((r) => r.backoff === b).map((r) => r.ms)])
          )
          assert.deepStrictEqual(table, {
            none: [0, 0, 0, 0, 0],
            linear: [1000, 2000, 3000, 4000, 5000],
            exponential: [1000, 2000, 4000, 6000, 6000],
            fibonacci: [1000, 1000, 2000, 3000, 5000]
          })
        }))

      it.effect("attempts are counted against max_attempts; retryable=false forbids retries, not the first run", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({
            steps: [
              { name: "exhausted", maxAttempts: 3 },
              { name: "not_retryable", retryable: false },
              { name: "first_run", retryable: false },
              { name: "zero_max_first", maxAttempts: 0 },
              { name: "zero_max_retry", maxAttempts: 0 }
            ]
          })
          const past = secondsFromNow(-3600)
          yield* forceStepState(steps.exhausted!, "waiting_for_retry", { attempts: 3, at: past })
          yield* forceStepState(steps.not_retryable!, "waiting_for_retry", { attempts: 1, at: past })
          yield* forceStepState(steps.zero_max_retry!, "waiting_for_retry", { attempts: 1, at: past })
          const rows = byName(yield* fns.stepReadinessStatus(taskUuid))
          assert.isFalse(rows.exhausted!.retry_eligible)
          assert.isFalse(rows.not_retryable!.retry_eligible)
          assert.isTrue(rows.first_run!.retry_eligible)
          assert.isTrue(rows.first_run!.ready_for_execution)
          assert.isTrue(rows.zero_max_first!.ready_for_execution)
          assert.isFalse(rows.zero_max_retry!.retry_eligible)
          assert.deepStrictEqual(readyNames(Object.values(rows)), ["first_run", "zero_max_first"])
        }))

      it.effect("a step in error is never ready, even with attempts left", () =>
        Effect.gen(function*() {
          const fns = yield* ReadinessFunctions
          const { steps, taskUuid } = yield* createTask({ steps: [{ name: "only", maxAttempts: 5 }] })
          yield* forceStepState(steps.only!, "error", { attempts: 1, at: secondsFromNow(-3600) })
          const [row] = yield* fns.stepReadinessStatus(taskUuid)
          assert.isTrue(row!.retry_eligible)
          assert.isFalse(row!.ready_for_execution)
        }))
    })

    it.effect("unknown task: NotFound", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const error = yield* Effect.flip(fns.stepReadinessStatus(UNKNOWN_TASK))
        assert.strictEqual(error._tag, "NotFound")
        if (error._tag === "NotFound") {
          assert.strictEqual(error.entity, "task")
          assert.strictEqual(error.id, UNKNOWN_TASK)
        }
      }))
  })

  layer(db.layer, { excludeTestServices: true })(`get_task_execution_context on ${db.name}`, (it) => {
    it.effect("a fresh task has ready steps", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { taskUuid } = yield* createTask({ steps: graphs.linear })
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.status, "pending")
        assert.strictEqual(ctx.total_steps, 4)
        assert.strictEqual(ctx.pending_steps, 4)
        assert.strictEqual(ctx.ready_steps, 1)
        assert.strictEqual(ctx.execution_status, "has_ready_steps")
        assert.strictEqual(ctx.recommended_action, "execute_ready_steps")
        assert.strictEqual(ctx.health_status, "healthy")
        assert.strictEqual(ctx.completion_percentage, 0)
      }))

    it.effect("steps in flight (including results waiting for orchestration) mean processing", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        for (const state of ["enqueued", "in_progress", "enqueued_for_orchestration", "enqueued_as_error_for_orchestration"] as const) {
          const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
          yield* forceStepState(steps.step_1!, state)
          const ctx = yield* fns.taskExecutionContext(taskUuid)
          assert.strictEqual(ctx.execution_status, "processing", state)
          assert.strictEqual(ctx.recommended_action, "wait_for_completion", state)
          assert.strictEqual(ctx.ready_steps, 0)
        }
      }))

    it.effect("a permanent failure with nothing else to do blocks the task", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(steps.step_1!, "complete")
        yield* forceStepState(steps.step_2!, "error", { attempts: 3 })
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "blocked_by_failures")
        assert.strictEqual(ctx.recommended_action, "handle_failures")
        assert.strictEqual(ctx.health_status, "blocked")
        assert.strictEqual(ctx.failed_steps, 1)
        assert.strictEqual(ctx.blocked_steps, 1)
        assert.strictEqual(ctx.completed_steps, 1)
        assert.strictEqual(ctx.completion_percentage, 25)
      }))

    it.effect("a failure on one branch lets the other branch run first", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
        yield* forceStepState(steps.start!, "complete")
        yield* forceStepState(steps.branch_b!, "error", { attempts: 3 })
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "has_ready_steps")
        assert.strictEqual(ctx.health_status, "recovering")
        yield* forceStepState(steps.branch_c!, "complete")
        const after = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(after.execution_status, "blocked_by_failures")
      }))

    it.effect("a step backing off: waiting_for_retry, recovering", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(steps.step_1!, "waiting_for_retry", {
          attempts: 1,
          lastAttemptedAt: new Date(),
          backoffRequestSeconds: 60
        })
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "waiting_for_retry")
        assert.strictEqual(ctx.recommended_action, "wait_for_retry")
        assert.strictEqual(ctx.health_status, "recovering")
        assert.strictEqual(ctx.waiting_for_retry_steps, 1)
      }))

    it.effect("a cancelled step blocks instead of leaving the task waiting forever", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(steps.step_1!, "cancelled")
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "blocked_by_failures")
      }))

    it.effect("all steps complete (or resolved manually): all_complete, finalize_task, 100 %", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
        for (const name of ["start", "branch_b", "end"]) yield* forceStepState(steps[name]!, "complete")
        yield* forceStepState(steps.branch_c!, "resolved_manually")
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "all_complete")
        assert.strictEqual(ctx.recommended_action, "finalize_task")
        assert.strictEqual(ctx.completion_percentage, 100)
        assert.strictEqual(ctx.completed_steps, 4)
      }))

    it.effect("waiting on dependencies when nothing can run and nothing failed", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({ steps: graphs.linear })
        // a pending step with no attempt left (its budget used up) cannot run and has not failed
        yield* forceStepState(steps.step_1!, "complete")
        yield* forceStepState(steps.step_2!, "pending", { attempts: 3 })
        const ctx = yield* fns.taskExecutionContext(taskUuid)
        assert.strictEqual(ctx.execution_status, "waiting_for_dependencies")
        assert.strictEqual(ctx.recommended_action, "wait_for_dependencies")
      }))

    it.effect("batch: one row per existing task, in input order; unknown task: NotFound", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const a = yield* createTask({ steps: graphs.linear })
        const b = yield* createTask({ steps: graphs.tree })
        const rows = yield* fns.taskExecutionContexts([b.taskUuid, UNKNOWN_TASK, a.taskUuid])
        assert.deepStrictEqual(rows.map((r) => [r.task_uuid, r.total_steps]), [[b.taskUuid, 8], [a.taskUuid, 4]])
        const error = yield* Effect.flip(fns.taskExecutionContext(UNKNOWN_TASK))
        assert.strictEqual(error._tag, "NotFound")
      }))
  })

  layer(db.layer, { excludeTestServices: true })(`DAG helpers on ${db.name}`, (it) => {
    it.effect("transitive dependencies: every ancestor once, nearest first", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const linear = yield* createTask({ steps: graphs.linear })
        const deps = yield* fns.stepTransitiveDependencies(linear.steps.step_4!)
        assert.deepStrictEqual(deps.map((d) => [d.step_name, d.distance]), [["step_3", 1], ["step_2", 2], ["step_1", 3]])
        assert.deepStrictEqual(yield* fns.stepTransitiveDependencies(linear.steps.step_1!), [])

        const diamond = yield* createTask({ steps: graphs.diamond })
        const diamondDeps = yield* fns.stepTransitiveDependencies(diamond.steps.end!)
        assert.deepStrictEqual(diamondDeps.map((d) => [d.step_name, d.distance]), [
          ["branch_b", 1],
          ["branch_c", 1],
          ["start", 2]
        ])
      }))

    it.effect("transitive dependencies carry results and processed flags", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const fns = yield* ReadinessFunctions
        const { steps } = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(steps.step_1!, "complete")
        yield* sql`UPDATE tasker_workflow_steps SET results = ${JSON.stringify({ result: 36 })}::jsonb
                   WHERE workflow_step_uuid = ${steps.step_1!}`
        const deps = yield* fns.stepTransitiveDependencies(steps.step_2!)
        assert.deepStrictEqual(deps.map((d) => [d.step_name, d.processed, d.results]), [["step_1", true, { result: 36 }]])
      }))

    it.effect("transitive dependencies at depth 0 to 7", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const chain = Array.from({ length: 8 }, (_, i) => ({ name: `s${i}`, dependsOn: i === 0 ? [] : [`s${i - 1}`] }))
        const { steps } = yield* createTask({ steps: chain })
        for (let depth = 0; depth < 8; depth++) {
          const deps = yield* fns.stepTransitiveDependencies(steps[`s${depth}`]!)
          assert.strictEqual(deps.length, depth)
          assert.deepStrictEqual(deps.map((d) => d.distance), Array.from({ length: depth }, (_, i) => i + 1))
        }
      }))

    it.effect("unknown step: NotFound", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const error = yield* Effect.flip(fns.stepTransitiveDependencies(UNKNOWN_STEP))
        assert.strictEqual(error._tag, "NotFound")
        if (error._tag === "NotFound") assert.strictEqual(error.entity, "step")
      }))

    it.effect("dependency levels: the longest path from a root", () =>
      Effect.gen(function*() {
        const fns = yield* ReadinessFunctions
        const { steps, taskUuid } = yield* createTask({
          steps: [{ name: "a" }, { name: "b", dependsOn: ["a"] }, { name: "c", dependsOn: ["b"] }, { name: "d", dependsOn: ["a", "c"] }]
        })
        const levels = yield* fns.dependencyLevels(taskUuid)
        const byStep = Object.fromEntries(levels.map((l) => [l.workflow_step_uuid, l.dependency_level]))
        assert.deepStrictEqual([byStep[steps.a!], byStep[steps.b!], byStep[steps.c!], byStep[steps.d!]], [0, 1, 2, 3])
      }))

    it.effect("the DAG view: parents, children, roots, leaves and depth", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { steps, taskUuid } = yield* createTask({ steps: graphs.diamond })
        const rows = yield* sql<{
          workflow_step_uuid: string
          parent_count: number
          child_count: number
          is_root_step: boolean
          is_leaf_step: boolean
          min_depth_from_root: number
        }>`SELECT * FROM tasker_step_dag_relationships WHERE task_uuid = ${taskUuid}`
        const view = Object.fromEntries(rows.map((r) => [r.workflow_step_uuid, r]))
        assert.deepStrictEqual(
          [view[steps.start!]!.is_root_step, view[steps.start!]!.child_count, view[steps.start!]!.min_depth_from_root],
          [true, 2, 0]
        )
        assert.deepStrictEqual(
          [view[steps.end!]!.is_leaf_step, view[steps.end!]!.parent_count, view[steps.end!]!.min_depth_from_root],
          [true, 2, 2]
        )
      }))
  })
}
