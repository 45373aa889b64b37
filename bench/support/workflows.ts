/**
 * Benchmark workflows: the shapes of the examples (linear-4, diamond-4) and a 50-step graph, with trivial
 * handlers, so the benchmarks measure the engine, not the handlers' work. `promise` variants use the plain-async
 * adapter.
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

/**
 * 50 steps, 96 edges, 8 levels (the `dag50` shape of the seeded dataset): a root, six layers of eight steps (the
 * first under the root, each later step under two steps of the layer above), and a final step joining the last
 * layer.
 */
export const dag50 = (() => {
  let workflow = Workflow.make({ namespace: "bench", name: "dag50", version: "1.0.0", identityStrategy: "always_unique" })
    .step("s00", { run: (ctx) => Effect.succeed(add(ctx)) })
  const name = (index: number) => `s${String(index).padStart(2, "0")}`
  for (let layer = 1; layer <= 6; layer++) {
    for (let j = 0; j < 8; j++) {
      const parents = layer === 1 ? [name(0)] : [name(1 + (layer - 2) * 8 + j), name(1 + (layer - 2) * 8 + ((j + 1) % 8))]
      workflow = workflow.step(name(1 + (layer - 1) * 8 + j), { dependsOn: parents, run: (ctx) => Effect.succeed(add(ctx)) })
    }
  }
  return workflow.step(name(49), {
    dependsOn: Array.from({ length: 8 }, (_, j) => name(41 + j)),
    run: (ctx) => Effect.succeed(add(ctx))
  })
})()

export const benchTemplates = [linear4, diamond4, linear4Promise, dag50]
