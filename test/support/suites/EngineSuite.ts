/**
 * The whole engine on a database, one suite run against each (test/engine/Engine.test.ts on PostgreSQL,
 * test/embedded/Engine.test.ts on PGlite): a two-step workflow, the notification source delivering the NOTIFYs of
 * the PL/pgSQL queue functions, the event-driven mode (notifications are the only wake-ups, no polling to fall back
 * on), and two orchestrators and two workers sharing one database.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer, type EngineOptions } from "../../../layers/engine.ts"
import { NotificationSource } from "../../../src/db/Notifications.ts"
import { exampleTemplates } from "../../../src/examples/index.ts"
import { NOTIFY_CHANNEL } from "../../../src/messaging/Channels.ts"
import { TaskInitializer } from "../../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../../src/tasks/TaskQueries.ts"
import { Workflow } from "../../../src/workflow/Workflow.ts"
import { auditTransitions } from "../Audit.ts"
import type { DatabaseUnderTest } from "../Databases.ts"
import { type FinishedTask, resultOf, runTask, stepOf } from "../Harness.ts"
import { CountedDiamond, CountedLinear, successes, workersSeen } from "../Templates.ts"

const Square = Workflow.make({
  namespace: "smoke",
  name: "squares",
  version: "1.0.0",
  input: Schema.Struct({ n: Schema.Int })
})
  .step("a", { run: (ctx) => Effect.succeed(ctx.context.n * ctx.context.n) })
  .step("b", {
    dependsOn: ["a"],
    run: (ctx) => ctx.dependency("a", Schema.Number).pipe(Effect.map((x) => x + 1))
  })

/** The task completed, every step after one attempt. */
const allComplete = (task: FinishedTask) => {
  assert.strictEqual(task.status, "complete")
  for (const [name, step] of task.steps) {
    assert.strictEqual(step.current_state, "complete", name)
    assert.strictEqual(step.attempts, 1, name)
  }
}

export const engineSuite = (db: DatabaseUnderTest) => {
  const Smoke = engineLayer({ templates: [Square], settings: { pollIntervalMs: 200 } }).pipe(Layer.provideMerge(db.layer))

  layer(Smoke, { excludeTestServices: true })(`engine on ${db.name}`, (it) => {
    it.effect("runs a two-step workflow", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const created = yield* init.createTask({ namespace: "smoke", name: "squares", version: "1.0.0", context: { n: 3 } })
        assert.isTrue(created.created)
        const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "10 seconds" })
        assert.strictEqual(done.status, "complete")
        const steps = yield* queries.listSteps(created.task_uuid)
        const b = steps.find((s) => s.name === "b")!
        assert.deepStrictEqual((b.results as { result: number }).result, 10)
      }))

    it.effect("the notification source delivers queue sends from PL/pgSQL", () =>
      Effect.gen(function*() {
        const source = yield* NotificationSource
        const sql = yield* SqlClient.SqlClient
        const payloads = yield* source.listen(NOTIFY_CHANNEL)
        const origin = "01a21c00-0000-7000-8000-000000000000"
        yield* sql`SELECT tasker_create_queue('notify_test')`
        yield* sql`SELECT tasker_create_queue('notify_test_rolled_back')`
        // a send whose transaction rolls back notifies no one
        yield* Effect.flip(sql.withTransaction(
          Effect.andThen(sql`SELECT tasker_send('notify_test_rolled_back', '{}'::jsonb)`, Effect.fail("roll back"))
        ))
        // a committed send: the queue's name; from a transaction that set its origin: the name and the origin
        yield* sql.withTransaction(sql`SELECT tasker_send('notify_test', '{}'::jsonb)`)
        yield* sql.withTransaction(Effect.andThen(
          sql`SELECT set_config('tasker.notify_origin', ${origin}, true)`,
          sql`SELECT tasker_send('notify_test', '{}'::jsonb)`
        ))
        // this test's payloads in the order they arrive (the engine's own traffic may come in between), for up to 10 s;
        // notifications arrive in commit order, so one from the rolled-back send would come first
        const received: Array<string> = []
        yield* Effect.gen(function*() {
          while (received.length < 2) {
            const payload = yield* Queue.take(payloads)
            if (payload.startsWith("notify_test")) received.push(payload)
          }
        }).pipe(Effect.timeoutOption("10 seconds"))
        assert.deepStrictEqual(received, ["notify_test", `notify_test ${origin}`])
      }).pipe(Effect.scoped))
  })

  const EventDriven = engineLayer({
    templates: exampleTemplates,
    // no polling to fall back on: the worker learns of steps enqueued by the orchestrator, the orchestrator of the
    // results on its queue, and the waiter of the task's end, only through the NOTIFYs the PL/pgSQL functions send
    settings: { deploymentMode: "event_driven", pollIntervalMs: 60_000, inlineResultProcessing: false }
  }).pipe(Layer.provideMerge(db.layer))

  layer(EventDriven, { excludeTestServices: true })(`event-driven engine on ${db.name}`, (it) => {
    it.effect("runs a workflow through the results queue without polling", () =>
      Effect.gen(function*() {
        const started = Date.now()
        const task = yield* runTask("rust_e2e_diamond", "diamond_pattern", { even_number: 6 })
        allComplete(task)
        assert.strictEqual(resultOf(stepOf(task, "diamond_end")), "2821109907456")
        assert.isBelow(Date.now() - started, 10_000)
      }))
  })

  describe(`several orchestrators and workers on one ${db.name} database`, () => {
    it.live("2 orchestrators + 2 workers run 200 tasks: none lost, no step succeeds twice", () =>
      Effect.gen(function*() {
        successes.clear()
        workersSeen.clear()
        const templates = [CountedLinear, CountedDiamond]
        const connection = yield* db.shared
        const scope = yield* Scope.Scope
        /** An engine of its own (own processor identity; on PostgreSQL its own pool, as a separate process has). */
        const start = <R = never>(options: EngineOptions<R>) =>
          Layer.buildWithScope(engineLayer(options).pipe(Layer.provideMerge(connection)), scope)
        // workers hand every result to the orchestrators (the results queue path), so both orchestrators work
        const settings = { pollIntervalMs: 200, resultBatchSize: 5, readyTaskBatchSize: 5, inlineResultProcessing: false }
        // the first engine migrates (on PostgreSQL); the others start concurrently
        const client = yield* start({ orchestrator: true, settings })
        const engines = yield* Effect.all([
          start({ orchestrator: true, settings }),
          start({ templates, orchestrator: false, settings: { ...settings, workerConcurrency: 4 } }),
          start({ templates, orchestrator: false, settings: { ...settings, workerConcurrency: 4 } })
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
}
