/**
 * Benchmark workflows: the shapes of the examples (linear-4, diamond-4) with trivial handlers, so the benchmarks
 * measure the engine, not the handlers' work. `promise` variants use the plain-async adapter.
 */
import { Effect } from "effect"
import { fromPromise, Workflow } from "../../src/workflow/Workflow.ts"

const add = (ctx: { readonly dependencyResults: Readonly<Record<string, unknown>> }) =>
  Object.values(ctx.dependencyResults).reduce((sum: number, v) => sum + (typeof v === "number" ? v : 0), 1)

export const linear4 = Workflow.make({ namespace: "bench", name: "linear4", version: "1.0.0", identityStrategy: "always_unique" })
  .step("s1", { run: (ctx) => Effect.succeed(add(ctx)) })
  .step("s2", { dependsOn: ["s1"], run: (ctx) => Effect.succeed(add(ctx)) })
  .step("s3", { dependsOn: ["s2"], run: (ctx) => Effect.succeed(add(ctx)) })
  .step("s4", { dependsOn: ["s3"], run: (ctx) => Effect.succeed(add(ctx)) })

export const diamond4 = Workflow.make({ namespace: "bench", name: "diamond4", version: "1.0.0", identityStrategy: "always_unique" })
  .step("start", { run: (ctx) => Effect.succeed(add(ctx)) })
  .step("left", { dependsOn: ["start"], run: (ctx) => Effect.succeed(add(ctx)) })
  .step("right", { dependsOn: ["start"], run: (ctx) => Effect.succeed(add(ctx)) })
  .step("end", { dependsOn: ["left", "right"], run: (ctx) => Effect.succeed(add(ctx)) })

const promiseStep = fromPromise(async (ctx) => add(ctx))

export const linear4Promise = Workflow.make({
  namespace: "bench",
  name: "linear4_promise",
  version: "1.0.0",
  identityStrategy: "always_unique"
})
  .stepWith("s1", { handler: promiseStep })
  .stepWith("s2", { dependsOn: ["s1"], handler: promiseStep })
  .stepWith("s3", { dependsOn: ["s2"], handler: promiseStep })
  .stepWith("s4", { dependsOn: ["s3"], handler: promiseStep })

export const benchTemplates = [linear4, diamond4, linear4Promise]
