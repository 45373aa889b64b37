/**
 * A worker keeps two result submissions in flight: a result does not wait behind a batch the database is still
 * applying. Here the first batch is held up by a lock on its task's row (an operator's transaction, say); a result
 * that finishes meanwhile goes out in a second transaction and commits, and the held batch commits once the lock is
 * gone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import type { TaskUuid } from "../../src/domain/Ids.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { auditTransitions } from "../support/Audit.ts"
import { gatedWorkflow, newGate } from "../support/Templates.ts"
import { freshDatabase } from "../support/TestDatabase.ts"

const Gated = gatedWorkflow("pipeline")

/** Polls `check` every 20 ms until it holds (at most 10 s). */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (yield* check) return
      yield* Effect.sleep("20 millis")
    }
    assert.fail(`never: ${what}`)
  })

describe("result submissions in flight", () => {
  it.live("a result commits while the worker's previous batch waits for a lock", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase
      const scope = yield* Scope.Scope
      const engine = yield* Layer.buildWithScope(
        engineLayer({ templates: [Gated], settings: { pollIntervalMs: 200 } }).pipe(
          Layer.provideMerge(postgresLayer({ url, maxConnections: 8 }))
        ),
        scope
      )
      const sql = Context.get(engine, SqlClient.SqlClient)
      const init = Context.get(engine, TaskInitializer)
      const queries = Context.get(engine, TaskQueries)

      const gateA = yield* newGate
      const gateB = yield* newGate
      const a = yield* init.createTask({ namespace: "pipeline", name: "gated", version: "1.0.0", context: gateA.context })
      const b = yield* init.createTask({ namespace: "pipeline", name: "gated", version: "1.0.0", context: gateB.context })
      const running = sql<{ n: number }>`
        SELECT count(*)::int AS n FROM tasker_workflow_steps
        WHERE workflow_step_uuid IN (${a.step_mapping.wait!}, ${b.step_mapping.wait!}) AND current_state = 'in_progress'`
      yield* eventually("both first steps running", Effect.map(running, ([r]) => r!.n === 2))

      // another session holds task A's row
      const locked = yield* Deferred.make<void>()
      const unlock = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM tasker_tasks WHERE task_uuid = ${a.task_uuid} FOR UPDATE`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(unlock)
      })))
      yield* Deferred.await(locked)

      // A's step finishes: its submission waits for the lock
      yield* Deferred.succeed(gateA.gate, undefined)
      yield* eventually(
        "A's submission waiting for the lock",
        Effect.map(
          sql<{ n: number }>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%tasker_submit_step_results%'`,
          ([r]) => r!.n === 1
        )
      )

      // B's step finishes meanwhile: its result does not wait behind A's batch
      yield* Deferred.succeed(gateB.gate, undefined)
      const doneB = yield* queries.waitForCompletion(b.task_uuid as TaskUuid, { timeout: "10 seconds" })
      assert.strictEqual(doneB.status, "complete")
      const [stillA] = yield* sql<{ current_state: string }>`
        SELECT current_state FROM tasker_workflow_steps WHERE workflow_step_uuid = ${a.step_mapping.wait!}`
      assert.strictEqual(stillA!.current_state, "in_progress")

      // the lock goes: A's batch commits and its task finishes
      yield* Deferred.succeed(unlock, undefined)
      yield* Fiber.join(holder)
      const doneA = yield* queries.waitForCompletion(a.task_uuid as TaskUuid, { timeout: "10 seconds" })
      assert.strictEqual(doneA.status, "complete")
      for (const task of [a, b]) {
        const steps = yield* queries.listSteps(task.task_uuid)
        assert.deepStrictEqual(steps.map((s) => [s.name, s.current_state, s.attempts]), [
          ["wait", "complete", 1],
          ["after", "complete", 1]
        ])
      }
      yield* auditTransitions.pipe(Effect.provideService(SqlClient.SqlClient, sql))
    }).pipe(Effect.scoped))
})
