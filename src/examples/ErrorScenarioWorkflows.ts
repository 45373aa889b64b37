/**
 * Error scenario workflows (tasker-core's `test_errors` namespace): four one-step templates that exercise the
 * engine's failure handling.
 *
 * | template | step | behaviour | outcome |
 * |---|---|---|---|
 * | `success_only` | `success_step` | succeeds (not retryable, `maxAttempts` 0) | task `complete`, 1 attempt |
 * | `permanent_error_only` | `permanent_error_step` | fails with a permanent error although retries remain | step `error`, task `blocked_by_failures`, 1 attempt |
 * | `retryable_error_success` | `retryable_then_success_step` | fails retryably on attempt 1, succeeds on attempt 2 | task `complete`, 2 attempts |
 * | `retryable_error_exhausted` | `retryable_error_step` | always fails retryably (`maxAttempts` 2) | step `error`, task `blocked_by_failures`, 2 attempts |
 *
 * Retries back off 50 ms (exponential), so the scenarios finish quickly.
 */
import { Effect } from "effect"
import { StepError } from "../workflow/StepError.ts"
import { Workflow } from "../workflow/Workflow.ts"

const namespace = "test_errors"
const version = "1.0.0"

export const SuccessOnlyWorkflow = Workflow.make({
  namespace,
  name: "success_only",
  version,
  description: "One step that always succeeds"
}).step("success_step", {
  description: "Always succeeds on the first attempt",
  retry: { retryable: false, maxAttempts: 0 },
  run: (ctx) => Effect.succeed({ scenario: "success", attempt: ctx.attempt, message: "step completed successfully" })
})

export const PermanentErrorOnlyWorkflow = Workflow.make({
  namespace,
  name: "permanent_error_only",
  version,
  description: "One step that fails permanently"
}).step("permanent_error_step", {
  description: "Fails with a permanent error; it is not retried although its policy allows 3 attempts",
  retry: { maxAttempts: 3, backoff: "exponential", backoffBaseMs: 50 },
  run: (ctx) =>
    Effect.fail(
      StepError.permanent("simulated permanent failure", {
        code: "PERMANENT_ERROR",
        errorType: "PermanentError",
        details: { scenario: "permanent_error", attempt: ctx.attempt }
      })
    )
})

export const RetryableErrorSuccessWorkflow = Workflow.make({
  namespace,
  name: "retryable_error_success",
  version,
  description: "One step that fails retryably once, then succeeds"
}).step("retryable_then_success_step", {
  description: "Fails retryably on attempt 1 and succeeds on attempt 2",
  retry: { maxAttempts: 3, backoff: "exponential", backoffBaseMs: 50 },
  run: (ctx) =>
    ctx.attempt < 2
      ? Effect.fail(
        StepError.retryable(`simulated transient failure on attempt ${ctx.attempt}`, {
          code: "TRANSIENT_ERROR",
          errorType: "RetryableError",
          details: { scenario: "retryable_error_success", attempt: ctx.attempt }
        })
      )
      : Effect.succeed({ scenario: "retryable_error_success", attempt: ctx.attempt, message: "succeeded after a retry" })
})

export const RetryableErrorExhaustedWorkflow = Workflow.make({
  namespace,
  name: "retryable_error_exhausted",
  version,
  description: "One step that always fails retryably until its attempts are used up"
}).step("retryable_error_step", {
  description: "Always fails retryably; fails for good after 2 attempts",
  retry: { maxAttempts: 2, backoff: "exponential", backoffBaseMs: 50 },
  run: (ctx) =>
    Effect.fail(
      StepError.retryable(`simulated transient failure on attempt ${ctx.attempt}`, {
        code: "TRANSIENT_ERROR",
        errorType: "RetryableError",
        details: { scenario: "retryable_error_exhausted", attempt: ctx.attempt }
      })
    )
})
