/**
 * An application using the installed package (copied into a fresh directory by PackInstall.test.ts, never run
 * from the repository): a workflow whose Effect handler uses a service of the application, on the embedded
 * database (`node main.ts embedded`) or on PostgreSQL (`node main.ts postgres`, `DATABASE_URL`). Prints one JSON
 * line: the task's status and its steps' results (with `LOG_LEVEL=warn`, nothing else).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Layer, Schema } from "effect"
import { type DataLayer, engineLayer, StepError, TaskInitializer, TaskQueries, Workflow } from "tasker-effect"
import { embeddedLayer } from "tasker-effect/embedded"
import { postgresLayer } from "tasker-effect/postgres"
import { telemetryLayerFromEnv } from "tasker-effect/telemetry"

class Pricing extends Context.Service<Pricing, {
  readonly unitPrice: (sku: string) => Effect.Effect<number>
}>()("app/Pricing") {
  static readonly layer = Layer.succeed(Pricing, { unitPrice: (sku) => Effect.succeed(sku.length * 10) })
}

const Quote = Workflow.make({
  namespace: "app",
  name: "quote",
  version: "1.0.0",
  input: Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
})
  .step("price", {
    run: (ctx) =>
      Effect.gen(function*() {
        const pricing = yield* Pricing
        return yield* pricing.unitPrice(ctx.context.sku)
      })
  })
  .step("total", {
    dependsOn: ["price"],
    run: (ctx) =>
      ctx.context.quantity > 0
        ? Effect.map(ctx.dependency("price", Schema.Number), (price) => price * ctx.context.quantity)
        : Effect.fail(StepError.permanent("quantity must be positive"))
  })

// the declaration files carry the builder's step names: a dependency on an unknown step does not compile
export const Misspelt = Workflow.make({ namespace: "app", name: "misspelt", version: "1.0.0" })
  .step("a", { run: () => Effect.succeed(1) })
  // @ts-expect-error "b" is not a step of this workflow
  .step("c", { dependsOn: ["b"], run: () => Effect.succeed(2) })

const url = process.env["DATABASE_URL"]
// either database: `DataLayer` is what both give (a union of the two layers' types is not one TypeScript infers)
const database: DataLayer = process.argv[2] === "postgres" && url !== undefined ? postgresLayer({ url }) : embeddedLayer()

// the engine (orchestrator and a worker hosting Quote), its logs configured like the tasker processes' (LOG_LEVEL)
const Engine = engineLayer({ templates: [Quote] }).pipe(
  Layer.provide(Pricing.layer),
  Layer.provideMerge(database),
  Layer.provideMerge(telemetryLayerFromEnv)
)

const program = Effect.gen(function*() {
  const { task_uuid } = yield* (yield* TaskInitializer).createTask({
    namespace: "app",
    name: "quote",
    version: "1.0.0",
    context: { sku: "BOOK", quantity: 3 }
  })
  const queries = yield* TaskQueries
  const task = yield* queries.waitForCompletion(task_uuid, { timeout: "60 seconds" })
  const steps = yield* queries.listSteps(task_uuid)
  const results = Object.fromEntries(
    steps.map((step) => [step.name, (step.results as { result?: unknown } | null)?.result])
  )
  console.log(JSON.stringify({ status: task.status, results }))
})

program.pipe(Effect.provide(Engine), NodeRuntime.runMain)
