/**
 * The error a step handler fails with. `retryable` decides what the engine does with it: a retryable failure is
 * retried after a backoff while the step has attempts left (its template's `maxAttempts`); a permanent one fails
 * the step at once and blocks the task (an operator may retry or resolve the step).
 *
 * ```ts
 * Effect.fail(StepError.retryable("payment gateway timed out", { retryAfterSeconds: 5 }))
 * Effect.fail(StepError.permanent("order total is negative", { code: "VALIDATION_ERROR" }))
 * ```
 */
import { Schema } from "effect"

export class StepError extends Schema.TaggedError<StepError>()("StepError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  /** a class of error, e.g. `ValidationError`, `Timeout` */
  errorType: Schema.optionalKey(Schema.String),
  /** a stable machine-readable code, e.g. `MISSING_DEPENDENCY` */
  code: Schema.optionalKey(Schema.String),
  /** a retryable failure's hint: wait this long before the next attempt (overrides the backoff policy) */
  retryAfterSeconds: Schema.optionalKey(Schema.Number),
  /** anything else worth keeping with the failure (must be JSON) */
  details: Schema.optionalKey(Schema.Json)
}) {
  /** A transient failure: the step is retried after its backoff while attempts remain. */
  static retryable(
    message: string,
    options: { readonly errorType?: string; readonly code?: string; readonly retryAfterSeconds?: number; readonly details?: Schema.Json } = {}
  ): StepError {
    return new StepError({ message, retryable: true, ...options })
  }

  /** A failure that another attempt cannot fix: the step fails at once. */
  static permanent(
    message: string,
    options: { readonly errorType?: string; readonly code?: string; readonly details?: Schema.Json } = {}
  ): StepError {
    return new StepError({ message, retryable: false, ...options })
  }
}
