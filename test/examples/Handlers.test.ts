/**
 * The example handlers and helpers without an engine: input checks the input schema normally pre-empts (a
 * missing even_number), a missing parent result, and the order workflow's money, shipping and date arithmetic.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import type { StepUuid, TaskUuid } from "../../src/domain/Ids.ts"
import { requireEvenNumber } from "../../src/examples/EvenNumber.ts"
import { LinearWorkflow, MixedDagWorkflow } from "../../src/examples/index.ts"
import {
  addBusinessDays,
  fromCents,
  gatewayFeeCents,
  shippingCostCents,
  toCents
} from "../../src/examples/OrderFulfillmentWorkflow.ts"
import { makeDependencyReader, type StepContext } from "../../src/workflow/StepContext.ts"
import type { StepError } from "../../src/workflow/StepError.ts"
import type { WorkflowDefinition } from "../../src/workflow/Workflow.ts"

const contextFor = (
  stepName: string,
  context: unknown,
  dependencyResults: Readonly<Record<string, Schema.Json>> = {}
): StepContext<unknown> => ({
  taskUuid: "01900000-0000-7000-8000-000000000001" as TaskUuid,
  stepUuid: "01900000-0000-7000-8000-000000000002" as StepUuid,
  namespace: "test",
  taskName: "test",
  taskVersion: "1.0.0",
  stepName,
  attempt: 1,
  maxAttempts: 3,
  context,
  inputs: null,
  correlationId: "01900000-0000-7000-8000-000000000003",
  parentCorrelationId: null,
  dependencyResults,
  dependency: makeDependencyReader(dependencyResults)
})

/** Runs a template's step handler as the worker would (result encoded to JSON). */
const runStep = (
  template: WorkflowDefinition<never>,
  stepName: string,
  context: unknown,
  dependencyResults: Readonly<Record<string, Schema.Json>> = {}
) => {
  const step = template.steps.find((s) => s.name === stepName)
  assert.isDefined(step?.handler, `no handler for ${stepName}`)
  return step!.handler!.run(contextFor(stepName, context, dependencyResults))
}

const failure = (exit: Exit.Exit<unknown, StepError>): StepError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.findErrorOption(exit as Exit.Exit<never, StepError>)
  assert.strictEqual(error._tag, "Some")
  return (error as { readonly value: StepError }).value
}

describe("math handlers", () => {
  it.effect("requireEvenNumber checks presence, integrality and evenness", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* requireEvenNumber({ even_number: 6 }), 6n)
      assert.strictEqual(yield* requireEvenNumber({ even_number: -4 }), -4n)
      assert.strictEqual(yield* requireEvenNumber({ even_number: 0 }), 0n)
      for (const context of [{}, { even_number: null }, null, "6"]) {
        const error = failure(yield* Effect.exit(requireEvenNumber(context)))
        assert.strictEqual(error.code, "MISSING_CONTEXT_FIELD", JSON.stringify(context))
        assert.isFalse(error.retryable)
      }
      for (const context of [{ even_number: 7 }, { even_number: -3 }, { even_number: 2.5 }, { even_number: "6" }]) {
        const error = failure(yield* Effect.exit(requireEvenNumber(context)))
        assert.strictEqual(error.code, "VALIDATION_ERROR", JSON.stringify(context))
        assert.isFalse(error.retryable)
      }
    }))

  it.effect("a root step fails permanently on a missing even_number and squares a present one", () =>
    Effect.gen(function*() {
      const missing = failure(yield* Effect.exit(runStep(LinearWorkflow, "linear_step_1", {})))
      assert.strictEqual(missing.code, "MISSING_CONTEXT_FIELD")
      assert.isFalse(missing.retryable)
      assert.strictEqual(yield* runStep(LinearWorkflow, "linear_step_1", { even_number: 6 }), "36")
    }))

  it.effect("a dependent step fails retryably on a missing parent result and squares a present one", () =>
    Effect.gen(function*() {
      const missing = failure(yield* Effect.exit(runStep(LinearWorkflow, "linear_step_2", { even_number: 6 })))
      assert.strictEqual(missing.code, "MISSING_DEPENDENCY")
      assert.isTrue(missing.retryable)
      assert.strictEqual(
        yield* runStep(LinearWorkflow, "linear_step_2", { even_number: 6 }, { linear_step_1: "36" }),
        "1296"
      )
      // finalize needs all three parents: with one missing it waits for it (retryable)
      const partial = failure(
        yield* Effect.exit(
          runStep(MixedDagWorkflow, "dag_finalize", { even_number: 2 }, { dag_validate: "65536", dag_transform: "256" })
        )
      )
      assert.strictEqual(partial.code, "MISSING_DEPENDENCY")
      assert.isTrue(partial.retryable)
      assert.strictEqual(
        yield* runStep(MixedDagWorkflow, "dag_finalize", { even_number: 2 }, {
          dag_validate: "65536",
          dag_transform: "256",
          dag_analyze: "256"
        }),
        (2n ** 64n).toString()
      )
    }))

  it.effect("a parent result that is not a decimal integer fails permanently", () =>
    Effect.gen(function*() {
      const error = failure(
        yield* Effect.exit(runStep(LinearWorkflow, "linear_step_2", { even_number: 6 }, { linear_step_1: "thirty-six" }))
      )
      assert.strictEqual(error.code, "INVALID_DEPENDENCY_RESULT")
      assert.isFalse(error.retryable)
    }))
})

describe("order fulfillment arithmetic", () => {
  it("converts amounts with at most 2 decimals to cents and back", () => {
    assert.strictEqual(toCents(29.99), 2999n)
    assert.strictEqual(toCents(149.99), 14999n)
    assert.strictEqual(toCents(0), 0n)
    assert.strictEqual(toCents(0.1 + 0.2), undefined)
    assert.strictEqual(toCents(29.999), undefined)
    assert.strictEqual(toCents(-0.01), undefined)
    assert.strictEqual(toCents(Number.POSITIVE_INFINITY), undefined)
    assert.strictEqual(fromCents(20997n), 209.97)
    assert.strictEqual(fromCents(5998n), 59.98)
  })

  it("charges a 2.9 % gateway fee rounded half up to the cent", () => {
    assert.strictEqual(gatewayFeeCents(20997n), 609n) // 608.913
    assert.strictEqual(gatewayFeeCents(500n), 15n) // 14.5
    assert.strictEqual(gatewayFeeCents(1000n), 29n)
    assert.strictEqual(gatewayFeeCents(0n), 0n)
  })

  it("computes the shipping cost from the method's base rate and the weight", () => {
    assert.strictEqual(shippingCostCents("standard", 1n), 899n)
    assert.strictEqual(shippingCostCents("standard", 2n), 899n)
    assert.strictEqual(shippingCostCents("standard", 3n), 1024n)
    assert.strictEqual(shippingCostCents("express", 10n), 2500n)
    assert.strictEqual(shippingCostCents("overnight", 1n), 2500n)
  })

  it("adds business days, skipping weekends (UTC)", () => {
    const friday = new Date("2024-05-03T22:30:00Z")
    assert.strictEqual(addBusinessDays(friday, 1), "2024-05-06")
    assert.strictEqual(addBusinessDays(friday, 2), "2024-05-07")
    assert.strictEqual(addBusinessDays(friday, 5), "2024-05-10")
    assert.strictEqual(addBusinessDays(new Date("2024-05-04T10:00:00Z"), 1), "2024-05-06") // Saturday
    assert.strictEqual(addBusinessDays(new Date("2024-05-02T00:00:00Z"), 2), "2024-05-06") // Thursday
    assert.strictEqual(addBusinessDays(new Date("2024-12-31T12:00:00Z"), 1), "2025-01-01")
  })
})
