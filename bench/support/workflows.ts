/**
 * Benchmark workflows: the shapes of the examples (linear-4, diamond-4), a 50-step graph, a 128-step chain and a
 * 1 → 200 → 1 fan-out, with trivial handlers, so the benchmarks measure the engine, not the handlers' work.
 * `promise` variants use the plain-async adapter.
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
  // step names built at run time: `Steps` is `string` (dependencies are checked when the template is registered)
  let workflow: Workflow<unknown, never> = Workflow.make({ namespace: "bench", name: "dag50", version: "1.0.0", identityStrategy: "always_unique" })
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

/** 128 steps in a chain (`s000` → `s001` → … → `s127`): per-step cost as a workflow grows long. */
export const chain128 = (() => {
  const name = (index: number) => `s${String(index).padStart(3, "0")}`
  let workflow: Workflow<unknown, never> = Workflow.make({ namespace: "bench", name: "chain128", version: "1.0.0", identityStrategy: "always_unique" })
    .step(name(0), { run: (ctx) => Effect.succeed(add(ctx)) })
  for (let i = 1; i < 128; i++) {
    workflow = workflow.step(name(i), { dependsOn: [name(i - 1)], run: (ctx) => Effect.succeed(add(ctx)) })
  }
  return workflow
})()

/** One root, 200 parallel children of it, one step joining all 200 (202 steps, 400 edges). */
export const fanout200 = (() => {
  const child = (index: number) => `c${String(index).padStart(3, "0")}`
  let workflow: Workflow<unknown, never> = Workflow.make({ namespace: "bench", name: "fanout200", version: "1.0.0", identityStrategy: "always_unique" })
    .step("root", { run: (ctx) => Effect.succeed(add(ctx)) })
  for (let i = 0; i < 200; i++) workflow = workflow.step(child(i), { dependsOn: ["root"], run: (ctx) => Effect.succeed(add(ctx)) })
  return workflow.step("join", {
    dependsOn: Array.from({ length: 200 }, (_, i) => child(i)),
    run: (ctx) => Effect.succeed(add(ctx))
  })
})()

/** Steps per workflow, for per-step figures. */
export const stepCounts: Readonly<Record<string, number>> = {
  linear4: 4,
  linear4_promise: 4,
  diamond4: 4,
  dag50: 50,
  chain128: 128,
  fanout200: 202
}

export const benchTemplates = [linear4, diamond4, linear4Promise, dag50, chain128, fanout200]
