/**
 * Embedding the engine in an application (the README's example, kept identical by a test):
 * a workflow whose handlers are Effects using the app's own service, the engine composed with the database
 * from the environment, one task submitted and awaited.
 *
 *   npm run example                                             # embedded database, nothing to install
 *   DATABASE_URL=postgres://localhost:5432/tasker npm run example  # your PostgreSQL
 */
import { NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Layer, Schema } from "effect"
import { databaseLayerFromEnv } from "../../layers/database.ts"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../tasks/TaskInitializer.ts"
import { TaskQueries } from "../tasks/TaskQueries.ts"
import { StepError } from "../workflow/StepError.ts"
import { Workflow } from "../workflow/Workflow.ts"

// A service of your application, used by the handlers
class Inventory extends Context.Service<Inventory, {
  readonly reserve: (sku: string, quantity: number) => Effect.Effect<string>
}>()("app/Inventory") {
  static readonly layer = Layer.succeed(Inventory, {
    reserve: (sku, quantity) => Effect.succeed(`reservation-${sku}-${quantity}`)
  })
}

// The workflow: a DAG of steps; each handler is an Effect
const PlaceOrder = Workflow.make({
  namespace: "shop",
  name: "place_order",
  version: "1.0.0",
  input: Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
})
  .step("validate", {
    run: (ctx) =>
      ctx.context.quantity > 0
        ? Effect.succeed({ sku: ctx.context.sku, quantity: ctx.context.quantity })
        : Effect.fail(StepError.permanent("quantity must be positive", { code: "INVALID_QUANTITY" }))
  })
  .step("reserve", {
    dependsOn: ["validate"],
    retry: { maxAttempts: 3, backoff: "exponential", backoffBaseMs: 500 },
    run: (ctx) =>
      Effect.gen(function*() {
        const inventory = yield* Inventory
        return yield* inventory.reserve(ctx.context.sku, ctx.context.quantity)
      })
  })
  .step("confirm", {
    dependsOn: ["reserve"],
    run: (ctx) => ctx.dependency("reserve", Schema.String).pipe(Effect.map((id) => `confirmed ${id}`))
  })

// The engine (orchestrator + a worker hosting the workflow) on the database from the environment
const Engine = engineLayer({ templates: [PlaceOrder] }).pipe(
  Layer.provide(Inventory.layer),
  Layer.provideMerge(databaseLayerFromEnv)
)

const program = Effect.gen(function*() {
  const tasks = yield* TaskInitializer
  const queries = yield* TaskQueries
  const { task_uuid } = yield* tasks.createTask({
    namespace: "shop",
    name: "place_order",
    version: "1.0.0",
    context: { sku: "BOOK-1", quantity: 2 }
  })
  const task = yield* queries.waitForCompletion(task_uuid, { timeout: "30 seconds" })
  yield* Effect.log(`task ${task_uuid}: ${task.status}`)
  for (const step of yield* queries.listSteps(task_uuid)) {
    yield* Effect.log(`  ${step.name}: ${JSON.stringify((step.results as { result?: unknown } | null)?.result)}`)
  }
})

program.pipe(Effect.provide(Engine), NodeRuntime.runMain)
