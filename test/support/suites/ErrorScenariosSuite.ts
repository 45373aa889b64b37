/**
 * The error scenario examples end to end, one suite run against each database (test/examples/ErrorScenarios.test.ts
 * on PostgreSQL, test/embedded/Examples.test.ts on PGlite): the step's attempts and state and the task's state for a
 * success, a permanent failure, a retryable failure that recovers, and one that exhausts its attempts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auditTransitions } from "../Audit.ts"
import type { DatabaseUnderTest } from "../Databases.ts"
import { envelopeOf, errorOf, examplesLayer, resultOf, runTask, stepOf } from "../Harness.ts"

const run = (name: string) => runTask("test_errors", name, {})

export const errorScenariosSuite = (db: DatabaseUnderTest) => {
  layer(examplesLayer(db), { excludeTestServices: true })(`error scenario examples on ${db.name}`, (it) => {
    it.effect("each scenario ends with the expected attempts and states", () =>
      Effect.gen(function*() {
        const [success, permanent, recovered, exhausted] = yield* Effect.all([
          run("success_only"),
          run("permanent_error_only"),
          run("retryable_error_success"),
          run("retryable_error_exhausted")
        ], { concurrency: "unbounded" })

        assert.strictEqual(success.status, "complete")
        const successStep = stepOf(success, "success_step")
        assert.strictEqual(successStep.current_state, "complete")
        assert.strictEqual(successStep.attempts, 1)
        assert.isFalse(successStep.retryable)
        assert.deepStrictEqual(resultOf(successStep), {
          scenario: "success",
          attempt: 1,
          message: "step completed successfully"
        })

        assert.strictEqual(permanent.status, "blocked_by_failures")
        const permanentStep = stepOf(permanent, "permanent_error_step")
        assert.strictEqual(permanentStep.current_state, "error")
        assert.strictEqual(permanentStep.attempts, 1) // not retried although max_attempts is 3
        assert.strictEqual(permanentStep.max_attempts, 3)
        const permanentError = errorOf(permanentStep)
        assert.strictEqual(permanentError.code, "PERMANENT_ERROR")
        assert.strictEqual(permanentError.error_type, "PermanentError")
        assert.isFalse(permanentError.retryable)

        assert.strictEqual(recovered.status, "complete")
        const recoveredStep = stepOf(recovered, "retryable_then_success_step")
        assert.strictEqual(recoveredStep.current_state, "complete")
        assert.strictEqual(recoveredStep.attempts, 2)
        assert.strictEqual(envelopeOf(recoveredStep).metadata.attempt, 2)
        assert.deepStrictEqual(resultOf(recoveredStep), {
          scenario: "retryable_error_success",
          attempt: 2,
          message: "succeeded after a retry"
        })

        assert.strictEqual(exhausted.status, "blocked_by_failures")
        const exhaustedStep = stepOf(exhausted, "retryable_error_step")
        assert.strictEqual(exhaustedStep.current_state, "error")
        assert.strictEqual(exhaustedStep.attempts, 2)
        assert.strictEqual(exhaustedStep.max_attempts, 2)
        const exhaustedError = errorOf(exhaustedStep)
        assert.strictEqual(exhaustedError.code, "TRANSIENT_ERROR")
        assert.isTrue(exhaustedError.retryable)
        assert.deepStrictEqual(exhaustedError.details, { scenario: "retryable_error_exhausted", attempt: 2 })
      }))

    it.effect("every recorded transition is one the state machines allow", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))
  })
}
