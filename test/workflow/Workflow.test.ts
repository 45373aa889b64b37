/**
 * The workflow builder's types: a step's `dependsOn` may name only the steps added before it, so a misspelt or
 * later step fails to compile (`npm run typecheck` checks the `@ts-expect-error` lines: an expected error that
 * does not occur is itself an error). Names only known at run time are still checked by `validateWorkflow`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { fromPromise, validateWorkflow, Workflow } from "../../src/workflow/Workflow.ts"

const base = () => Workflow.make({ namespace: "types", name: "deps", version: "1.0.0", input: Schema.Struct({ n: Schema.Number }) })

describe("Workflow builder", () => {
  it("dependsOn names earlier steps", () => {
    const ok = base()
      .step("a", { run: (ctx) => Effect.succeed(ctx.context.n) })
      .step("b", { dependsOn: ["a"], run: () => Effect.succeed(1) })
      .stepWith("c", { dependsOn: ["a", "b"], handler: fromPromise(async () => 2) })
    assert.deepStrictEqual(ok.steps.map((s) => s.dependsOn), [[], ["a"], ["a", "b"]])
    assert.isTrue(Result.isSuccess(validateWorkflow(ok)))
  })

  it("a misspelt name, a later step, or any name on the first step is a compile-time error", () => {
    const misspelt = base()
      .step("a", { run: () => Effect.succeed(1) })
      // @ts-expect-error "aa" is not a step of this workflow
      .step("b", { dependsOn: ["aa"], run: () => Effect.succeed(1) })
    const first = base()
      // @ts-expect-error the first step has nothing to depend on
      .step("a", { dependsOn: ["b"], run: () => Effect.succeed(1) })
    const later = base()
      // @ts-expect-error a step may depend only on steps added before it (the builder's order is a topological one)
      .step("a", { dependsOn: ["b"], run: () => Effect.succeed(1) })
      .step("b", { run: () => Effect.succeed(1) })
    const prepared = base()
      .step("a", { run: () => Effect.succeed(1) })
      // @ts-expect-error stepWith is checked the same way
      .stepWith("b", { dependsOn: ["zzz"], handler: fromPromise(async () => 2) })
    // the same templates are rejected at registration, for code that got past the compiler
    for (const t of [misspelt, first, prepared]) {
      assert.isTrue(Result.isFailure(validateWorkflow(t)))
    }
    // depending on a later step is no error at run time: only the builder asks for the order
    assert.isTrue(Result.isSuccess(validateWorkflow(later)))
  })

  it("names known only at run time are checked when the template is validated", () => {
    const names: Array<string> = ["one", "two"]
    let dynamic: Workflow<unknown, never> = Workflow.make({ namespace: "types", name: "dynamic", version: "1.0.0" })
    for (const [i, name] of names.entries()) {
      dynamic = dynamic.step(name, { dependsOn: i === 0 ? [] : [names[i - 1]!], run: () => Effect.succeed(i) })
    }
    assert.isTrue(Result.isSuccess(validateWorkflow(dynamic)))
    const wrong = dynamic.step("three", { dependsOn: ["nope"], run: () => Effect.succeed(3) })
    const result = validateWorkflow(wrong)
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) assert.deepStrictEqual(result.failure.problems, [`step "three" depends on unknown step "nope"`])
  })
})
