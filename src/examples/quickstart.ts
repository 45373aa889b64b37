/**
 * The quick start: run the linear example workflow once on the database at DATABASE_URL and print its steps.
 *
 *   DATABASE_URL=postgres://localhost:5432/tasker npm run example
 *
 * The same process migrates the database, registers the example templates, runs an orchestrator and a worker,
 * submits one task, waits for it (woken by its completion notification) and prints each step's result.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import { TaskInitializer } from "../orchestration/TaskInitializer.ts"
import { TaskQueries } from "../orchestration/TaskQueries.ts"
import { exampleTemplates } from "./index.ts"

const program = Effect.gen(function*() {
  const tasks = yield* TaskInitializer
  const queries = yield* TaskQueries
  const started = performance.now()
  const created = yield* tasks.createTask({
    namespace: "rust_e2e_linear",
    name: "mathematical_sequence",
    version: "1.0.0",
    context: { even_number: 6 },
    // the template dedupes identical requests; this makes every run a new task
    idempotency_key: crypto.randomUUID()
  })
  const task = yield* queries.waitForCompletion(created.task_uuid, { timeout: "30 seconds" })
  const elapsed = performance.now() - started
  yield* Effect.log(`task ${task.task_uuid} ${task.status} in ${elapsed.toFixed(1)} ms`)
  for (const step of yield* queries.listSteps(created.task_uuid)) {
    yield* Effect.log(`  ${step.name}: ${JSON.stringify((step.results as { result?: unknown } | null)?.result)}`)
  }
})

const Engine = Layer.unwrap(
  Effect.map(Config.String("DATABASE_URL"), (url) =>
    engineLayer({ templates: exampleTemplates }).pipe(Layer.provideMerge(postgresLayer({ url }))))
)

program.pipe(Effect.provide(Engine), NodeRuntime.runMain)
