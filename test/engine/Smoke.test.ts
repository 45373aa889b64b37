import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { engineLayer } from "../../layers/engine.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

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

const TestLayer = engineLayer({ templates: [Square], settings: { pollIntervalMs: 200 } }).pipe(
  Layer.provideMerge(TestDatabaseLayer)
)

layer(TestLayer, { excludeTestServices: true })("smoke", (it) => {
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
})
