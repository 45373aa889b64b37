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
import { CountedDiamond, CountedLinear, gatedWorkflow, gates, successes, workersSeen } from "../support/Templates.ts"
import { freshDatabase } from "../support/TestDatabase.ts"

const templates = [CountedLinear, CountedDiamond]

/** An engine process of its own (own pool, own processor identity) on the database at `url`. */
const startEngine = <R = never>(url: string, options: EngineOptions<R>, scope: Scope.Scope) =>
  Layer.buildWithScope(
    engineLayer(options).pipe(Layer.provideMerge(postgresLayer({ url, maxConnections: 4 }))),
    scope
  )

describe("several orchestrators and workers on one database", () => {
  it.live("2 orchestrators + 2 workers run 200 tasks: none lost, no step succeeds twice", () =>
    Effect.gen(function*() {
      const { url } = yield* freshDatabase
      const scope = yield* Scope.Scope
      // workers hand every result to the orchestrators (the results queue path), so both orchestrators work
      const settings = { pollIntervalMs: 200, resultBatchSize: 5, readyTaskBatchSize: 5, inlineResultProcessing: false }
      // the first engine migrates; the others start concurrently
      const client = yield* startEngine(url, { orchestrator: true, settings }, scope)
      const engines = yield* Effect.all([
        startEngine(url, { orchestrator: true, settings }, scope),
        startEngine(url, { templates, orchestrator: false, settings: { ...settings, workerConcurrency: 4 } }, scope),
        startEngine(url, { templates, orchestrator: false, settings: { ...settings, workerConcurrency: 4 } }, scope)
      ], { concurrency: "unbounded" })
      assert.strictEqual(engines.length, 3)

      const run = Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const created = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? "linear" : "diamond")),
          (name) => init.createTask({ namespace: "concurrency", name, version: "1.0.0" }),
          { concurrency: 20 }
        )
        const finished = yield* Effect.forEach(
          created,
          (c) => queries.waitForCompletion(c.task_uuid, { timeout: "60 seconds" }),
          { concurrency: "unbounded" }
        )
        return { created, finished }
      }).pipe(Effect.provide(client))

      const { created, finished } = yield* run
      assert.strictEqual(finished.filter((t) => t.status === "complete").length, 200)

      const sql = Context.get(client, SqlClient.SqlClient)
      const steps = yield* sql<{ workflow_step_uuid: string; current_state: string; results_recorded: number; completes: number }>`
        SELECT ws.workflow_step_uuid::text, ws.current_state,
          (SELECT count(*)::int FROM tasker_workflow_step_transitions st
           WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = 'enqueued_for_orchestration') AS results_recorded,
          (SELECT count(*)::int FROM tasker_workflow_step_transitions st
           WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = 'complete') AS completes
        FROM tasker_workflow_steps ws`
      assert.strictEqual(steps.length, 800)
      for (const step of steps) {
        assert.strictEqual(step.current_state, "complete")
        assert.strictEqual(step.results_recorded, 1, `step ${step.workflow_step_uuid} recorded a success twice`)
        assert.strictEqual(step.completes, 1)
        assert.strictEqual(successes.get(step.workflow_step_uuid), 1, `handler succeeded ${successes.get(step.workflow_step_uuid)} times`)
      }
      assert.strictEqual(workersSeen.size, 2, "both workers ran steps")
      const orchestrators = yield* sql<{ processors: number }>`
        SELECT count(DISTINCT processor_uuid)::int AS processors FROM tasker_workflow_step_transitions WHERE to_state = 'complete'`
      assert.strictEqual(orchestrators[0]!.processors, 2, "both orchestrators applied results")
      const retried = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_workflow_steps WHERE attempts > 1`
      assert.isAbove(retried[0]!.n, 0)
      const problems = yield* auditTransitions.pipe(Effect.provide(client))
      assert.deepStrictEqual(problems, [])
      assert.strictEqual(new Set(created.map((c) => c.task_uuid)).size, 200)
    }).pipe(Effect.scoped), { timeout: 120_000 })
})

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
        "EnqueueForOrchestration",
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
      assert.deepStrictEqual(events.map((e) => e.event), ["Create", "Enqueue", "Start", "Release", "Start", "EnqueueForOrchestration", "Complete"])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
