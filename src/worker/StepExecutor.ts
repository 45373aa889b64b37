/**
 * Runs one claimed step: builds the handler's context, runs the handler under the step's timeout, and turns the
 * outcome into the result envelope stored in `tasker_workflow_steps.results`:
 *
 * ```json
 * { "step_uuid": "…", "success": true, "status": "completed", "result": <JSON>, "error": null,
 *   "metadata": { "attempt": 1, "execution_time_ms": 3.2, "started_at": "…", "completed_at": "…",
 *                 "processor_uuid": "…", "worker_hostname": "…", "handler_kind": "effect" } }
 * ```
 *
 * A failure has `success: false`, `status: "failed"` and `error: {message, error_type, code, retryable,
 * retry_after_seconds, details}`. A `StepError` keeps its own retryability; a defect (an exception in the
 * handler) and a timeout are retryable.
 *
 * The handler runs in a span `StepHandler <step name>` (attribute `handler_type`), which ends with an error status
 * when the handler fails, throws or times out (and when the step has no handler or its context does not decode).
 */
import { hostname } from "node:os"
import { Cause, Duration, Effect, Exit, Option, Schema } from "effect"
import type { ProcessorUuid, StepUuid, TaskUuid } from "../domain/Ids.ts"
import type { ClaimRow } from "../db/EngineFunctions.ts"
import { makeDependencyReader, type StepContext } from "../workflow/StepContext.ts"
import { StepError } from "../workflow/StepError.ts"
import type { StepDefinition, WorkflowDefinition } from "../workflow/Workflow.ts"

/** A claimed step with everything its handler needs (a `claimed` row of `tasker_claim_step_messages`). */
export interface ClaimedStep {
  readonly msgId: bigint
  /** this claim's read of the message: the result and a give-back name it */
  readonly claimId: string
  /** how often the message has been read (claimed) */
  readonly readCount: number
  readonly headers: Schema.Json
  readonly stepUuid: StepUuid
  readonly taskUuid: TaskUuid
  readonly correlationId: string
  readonly parentCorrelationId: string | null
  readonly namespace: string
  readonly taskName: string
  readonly taskVersion: string
  readonly stepName: string
  readonly attempt: number
  readonly maxAttempts: number
  readonly timeoutSeconds: number | null
  readonly inputs: Schema.Json
  readonly taskContext: Schema.Json
  readonly dependencyResults: Readonly<Record<string, Schema.Json>>
}

export const toClaimedStep = (row: ClaimRow): ClaimedStep => ({
  msgId: row.msg_id,
  claimId: row.claim_id!,
  readCount: row.read_ct,
  headers: row.headers,
  stepUuid: row.step_uuid!,
  taskUuid: row.task_uuid!,
  correlationId: row.correlation_id!,
  parentCorrelationId: row.parent_correlation_id,
  namespace: row.namespace_name!,
  taskName: row.task_name!,
  taskVersion: row.task_version!,
  stepName: row.step_name!,
  attempt: row.attempts!,
  maxAttempts: row.max_attempts!,
  timeoutSeconds: row.timeout_seconds,
  inputs: row.inputs,
  taskContext: row.task_context ?? {},
  dependencyResults: row.dependency_results ?? {}
})

export interface StepOutcome {
  readonly success: boolean
  readonly envelope: Schema.Json
  /** the handler's error, for logs and metrics */
  readonly error: StepError | undefined
  readonly durationMs: number
}

const errorJson = (error: StepError): Schema.Json => ({
  message: error.message,
  error_type: error.errorType ?? "StepError",
  code: error.code ?? null,
  retryable: error.retryable,
  retry_after_seconds: error.retryAfterSeconds ?? null,
  details: error.details ?? null
})

const defectError = (cause: Cause.Cause<unknown>): StepError => {
  const defect = Cause.squash(cause)
  return StepError.retryable(defect instanceof Error ? defect.message : String(defect), {
    errorType: defect instanceof Error ? defect.name : "Defect"
  })
}

const host = hostname()

/**
 * Runs `step`'s handler for `claimed`. `template` is the hosted template (its input schema decodes the task
 * context). `ancestors` loads the results of every ancestor of the step, for a handler that asks for one that is
 * not a parent (run at most once). Never fails: every outcome, including a missing handler, becomes an envelope.
 */
export const executeStep = <R>(
  claimed: ClaimedStep,
  template: WorkflowDefinition<R> | undefined,
  step: StepDefinition<R> | undefined,
  processorUuid: ProcessorUuid,
  ancestors?: Effect.Effect<Readonly<Record<string, Schema.Json>>, StepError>
): Effect.Effect<StepOutcome, never, R> =>
  Effect.gen(function*() {
    const ancestorResults = ancestors === undefined ? undefined : yield* Effect.cached(ancestors)
    const startedAt = new Date()
    const started = performance.now()

    const run: Effect.Effect<Schema.Json, StepError, R> = Effect.gen(function*() {
      if (template === undefined || step === undefined || step.handler === undefined) {
        return yield* StepError.permanent(
          `no handler for step ${claimed.stepName} of ${claimed.namespace}/${claimed.taskName}@${claimed.taskVersion} on this worker`,
          { errorType: "HandlerNotFound", code: "HANDLER_NOT_FOUND" }
        )
      }
      const context = template.input === undefined
        ? claimed.taskContext
        : yield* Schema.decodeUnknownEffect(template.input)(claimed.taskContext).pipe(
          Effect.mapError((error) =>
            StepError.permanent(`task context does not match the input schema: ${error.message}`, {
              errorType: "ValidationError",
              code: "INVALID_CONTEXT"
            })
          )
        )
      const ctx: StepContext<unknown> = {
        taskUuid: claimed.taskUuid,
        stepUuid: claimed.stepUuid,
        namespace: claimed.namespace,
        taskName: claimed.taskName,
        taskVersion: claimed.taskVersion,
        stepName: claimed.stepName,
        attempt: claimed.attempt,
        maxAttempts: claimed.maxAttempts,
        context,
        inputs: claimed.inputs,
        correlationId: claimed.correlationId,
        parentCorrelationId: claimed.parentCorrelationId,
        dependencyResults: claimed.dependencyResults,
        dependency: makeDependencyReader(claimed.dependencyResults, ancestorResults)
      }
      const handled = step.handler.run(ctx)
      if (claimed.timeoutSeconds === null) return yield* handled
      const timed = yield* Effect.timeoutOption(handled, Duration.seconds(claimed.timeoutSeconds))
      if (Option.isNone(timed)) {
        return yield* StepError.retryable(`step timed out after ${claimed.timeoutSeconds} s`, {
          errorType: "Timeout",
          code: "STEP_TIMEOUT"
        })
      }
      return timed.value
    })

    // the handler's span: it ends with an error status when the handler fails, throws or times out, although the
    // outcome becomes a result envelope (executeStep itself never fails)
    const exit = yield* Effect.exit(run.pipe(
      Effect.withSpan(`StepHandler ${claimed.stepName}`, { attributes: { handler_type: step?.handler?.kind ?? "none" } }, {
        // (no stack trace: one per step is a captured Error on the hot path, and it would always point here)
        captureStackTrace: false
      })
    ))
    const durationMs = performance.now() - started
    const metadata = {
      attempt: claimed.attempt,
      execution_time_ms: Math.round(durationMs * 1000) / 1000,
      started_at: startedAt.toISOString(),
      completed_at: new Date().toISOString(),
      processor_uuid: processorUuid,
      worker_hostname: host,
      handler_kind: step?.handler?.kind ?? null
    }
    if (Exit.isSuccess(exit)) {
      return {
        success: true,
        error: undefined,
        durationMs,
        envelope: { step_uuid: claimed.stepUuid, success: true, status: "completed", result: exit.value, error: null, metadata }
      }
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
    const failure = Cause.findErrorOption(exit.cause)
    const error = Option.isSome(failure) ? failure.value : defectError(exit.cause)
    return {
      success: false,
      error,
      durationMs,
      envelope: {
        step_uuid: claimed.stepUuid,
        success: false,
        status: "failed",
        result: null,
        error: errorJson(error),
        metadata: { ...metadata, retryable: error.retryable }
      }
    }
  })
