/**
 * Workers that leave mid-step, each an engine of its own on one PostgreSQL database: one that dies (its step comes
 * back after the visibility timeout) and one shut down gracefully (it gives its step back). Two orchestrators and two
 * workers sharing a database run on both databases: test/support/suites/EngineSuite.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import type { TaskUuid } from "../../src/domain/Ids.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { ReleaseOnShutdown } from "../../src/worker/Worker.ts"
import { engineLayer, type EngineOptions } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import { auditTransitions } from "../support/Audit.ts"
import { gatedWorkflow, gates } from "../support/Templates.ts"
import { freshDatabase } from "../support/TestDatabase.ts"

/** An engine process of its own (own pool, own processor identity) on the database at `url`. */
const startEngine = <R = never>(url: string, options: EngineOptions<R>, scope: Scope.Scope) =>
  Layer.buildWithScope(
    engineLayer(options).pipe(Layer.provideMerge(postgresLayer({ url, maxConnections: 4 }))),
    scope
  )

describe("a worker that dies mid-step", () => {
  const Crashy = gatedWorkflow("crash", "crashy")

  it.live("its step comes back after the visibility timeout and another worker finishes it", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase
      const scope = yield* Scope.Scope
      const settings = { pollIntervalMs: 200, visibilityTimeoutSeconds: 1 }
      const orchestrator = yield* startEngine(url, { orchestrator: true, settings }, scope)
      const doomedScope = yield* Scope.fork(scope)
      const doomed = yield* startEngine(url, {
        templates: [Crashy],
        orchestrator: false,
        settings: { ...settings, shutdownGraceMs: 0 }
      }, doomedScope).pipe(Effect.provideService(ReleaseOnShutdown, false))
      const doomedUuid = Context.get(doomed, CurrentProcessor).processorUuid

      const sql = Context.get(orchestrator, SqlClient.SqlClient)
      const init = Context.get(orchestrator, TaskInitializer)
      const queries = Context.get(orchestrator, TaskQueries)
      const gate = yield* Deferred.make<void>()
      const created = yield* init.createTask({ namespace: "crash", name: "crashy", version: "1.0.0" })
      gates.set(created.task_uuid, gate)
      const step = created.step_mapping.wait!
      // wait for the doomed worker to claim the step
      let claimedBy: string | null = null
      for (let i = 0; i < 100 && claimedBy === null; i++) {
        const rows = yield* sql<{ processor_uuid: string | null }>`
          SELECT processor_uuid FROM tasker_workflow_step_transitions
          WHERE workflow_step_uuid = ${step} AND to_state = 'in_progress'`
        claimedBy = rows[0]?.processor_uuid ?? null
        if (claimedBy === null) yield* Effect.sleep("20 millis")
      }
      assert.strictEqual(claimedBy, doomedUuid)

      // the worker dies: its fibers stop, nothing is given back
      yield* Scope.close(doomedScope, (yield* Effect.exit(Effect.void)))
      yield* startEngine(url, { templates: [Crashy], orchestrator: false, settings }, scope)

      const task = yield* queries.waitForCompletion(created.task_uuid as TaskUuid, { timeout: "20 seconds" })
      assert.strictEqual(task.status, "complete")
      const steps = yield* queries.listSteps(created.task_uuid)
      const wait = steps.find((s) => s.name === "wait")!
      assert.strictEqual(wait.attempts, 2)
      assert.deepStrictEqual((wait.results as { result: unknown }).result, { attempt: 2 })
      const events = yield* sql<{ event: string }>`
        SELECT metadata ->> 'event' AS event FROM tasker_workflow_step_transitions
        WHERE workflow_step_uuid = ${step} ORDER BY sort_key`
      assert.deepStrictEqual(events.map((e) => e.event), [
        "Create",
        "Enqueue",
        "Start",
        "Reclaim",
        // the worker applies its own result (no wait for an orchestrator)
        "Complete"
      ])
      assert.deepStrictEqual(yield* auditTransitions.pipe(Effect.provide(orchestrator)), [])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("a worker shut down gracefully mid-step", () => {
  const Slow = gatedWorkflow("shutdown", "slow")

  it.live("gives its running step back without using an attempt; another worker runs it at once", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase
      const scope = yield* Scope.Scope
      const settings = { pollIntervalMs: 200 }
      const orchestrator = yield* startEngine(url, { orchestrator: true, settings }, scope)
      const leavingScope = yield* Scope.fork(scope)
      yield* startEngine(url, { templates: [Slow], orchestrator: false, settings: { ...settings, shutdownGraceMs: 200 } }, leavingScope)
      const sql = Context.get(orchestrator, SqlClient.SqlClient)
      const init = Context.get(orchestrator, TaskInitializer)
      const queries = Context.get(orchestrator, TaskQueries)
      const gate = yield* Deferred.make<void>()
      const created = yield* init.createTask({ namespace: "shutdown", name: "slow", version: "1.0.0" })
      gates.set(created.task_uuid, gate)
      const step = created.step_mapping.wait!
      for (let i = 0; i < 100; i++) {
        const [row] = yield* sql<{ current_state: string }>`
          SELECT current_state FROM tasker_workflow_steps WHERE workflow_step_uuid = ${step}`
        if (row!.current_state === "in_progress") break
        yield* Effect.sleep("20 millis")
      }
      const started = Date.now()
      yield* Scope.close(leavingScope, yield* Effect.exit(Effect.void))
      assert.isBelow(Date.now() - started, 5_000, "shutdown waited the grace period, not the handler")
      const [released] = yield* sql<{ current_state: string; attempts: number }>`
        SELECT current_state, attempts FROM tasker_workflow_steps WHERE workflow_step_uuid = ${step}`
      assert.deepStrictEqual([released!.current_state, released!.attempts], ["enqueued", 0])

      yield* Deferred.succeed(gate, undefined)
      yield* startEngine(url, { templates: [Slow], orchestrator: false, settings }, scope)
      const task = yield* queries.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(task.status, "complete")
      const [done] = yield* sql<{ attempts: number }>`SELECT attempts FROM tasker_workflow_steps WHERE workflow_step_uuid = ${step}`
      assert.strictEqual(done!.attempts, 1)
      const events = yield* sql<{ event: string }>`
        SELECT metadata ->> 'event' AS event FROM tasker_workflow_step_transitions
        WHERE workflow_step_uuid = ${step} ORDER BY sort_key`
      assert.deepStrictEqual(events.map((e) => e.event), ["Create", "Enqueue", "Start", "Release", "Start", "Complete"])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
