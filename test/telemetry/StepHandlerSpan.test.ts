import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Tracer } from "effect"
import { TestClock } from "effect/testing"
import type { ProcessorUuid, StepUuid, TaskUuid } from "../../src/domain/Ids.ts"
import { type ClaimedStep, executeStep } from "../../src/worker/StepExecutor.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"

const Steps = Workflow.make({ namespace: "spans", name: "steps", version: "1.0.0" })
  .step("works", { run: () => Effect.succeed(1) })
  .step("fails", { run: () => Effect.fail(StepError.permanent("card declined", { errorType: "PaymentError" })) })
  .step("throws", { run: () => Effect.sync(() => { throw new Error("boom") }) })
  .step("hangs", { timeoutSeconds: 1, run: () => Effect.never })

const claimed = (stepName: string, timeoutSeconds: number | null = null): ClaimedStep => ({
  msgId: 1n,
  claimId: "00000000-0000-4000-8000-000000000001",
  readCount: 1,
  headers: {},
  stepUuid: "01900000-0000-7000-8000-000000000001" as StepUuid,
  taskUuid: "01900000-0000-7000-8000-000000000002" as TaskUuid,
  correlationId: "01900000-0000-7000-8000-000000000003",
  parentCorrelationId: null,
  namespace: "spans",
  taskName: "steps",
  taskVersion: "1.0.0",
  stepName,
  attempt: 1,
  maxAttempts: 3,
  timeoutSeconds,
  inputs: {},
  taskContext: {},
  dependencyResults: {}
})

/** Runs `stepName`'s handler through executeStep under a tracer that keeps its spans. */
const run = (stepName: string, timeoutSeconds: number | null = null) =>
  Effect.gen(function*() {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const step = Steps.steps.find((s) => s.name === stepName)
    const fiber = yield* Effect.forkChild(
      executeStep(claimed(stepName, timeoutSeconds), Steps, step, "01900000-0000-7000-8000-000000000004" as ProcessorUuid)
        .pipe(Effect.withTracer(tracer))
    )
    if (timeoutSeconds !== null) yield* TestClock.adjust(`${timeoutSeconds + 1} seconds`)
    const outcome = yield* Fiber.join(fiber)
    const handlerSpans = spans.filter((s) => s.name === `StepHandler ${stepName}`)
    assert.strictEqual(handlerSpans.length, 1)
    const status = handlerSpans[0]!.status
    assert.strictEqual(status._tag, "Ended")
    return { outcome, exit: status._tag === "Ended" ? status.exit : undefined, span: handlerSpans[0]! }
  })

describe("StepHandler span", () => {
  it.effect("ends OK when the handler succeeds", () =>
    Effect.gen(function*() {
      const { outcome, exit, span } = yield* run("works")
      assert.isTrue(outcome.success)
      assert.isTrue(exit !== undefined && Exit.isSuccess(exit))
      assert.strictEqual(span.attributes.get("handler_type"), "effect")
    }))

  it.effect("ends with an error when the handler fails, while the outcome is still a result envelope", () =>
    Effect.gen(function*() {
      const { outcome, exit } = yield* run("fails")
      assert.isFalse(outcome.success)
      assert.strictEqual(outcome.error?.errorType, "PaymentError")
      assert.isTrue(exit !== undefined && Exit.isFailure(exit))
    }))

  it.effect("ends with an error when the handler throws", () =>
    Effect.gen(function*() {
      const { outcome, exit } = yield* run("throws")
      assert.isFalse(outcome.success)
      assert.isTrue(exit !== undefined && Exit.isFailure(exit))
    }))

  it.effect("ends with an error when the handler times out", () =>
    Effect.gen(function*() {
      const { outcome, exit } = yield* run("hangs", 1)
      assert.isFalse(outcome.success)
      assert.strictEqual(outcome.error?.errorType, "Timeout")
      assert.isTrue(exit !== undefined && Exit.isFailure(exit))
    }))
})
