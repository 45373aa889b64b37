/**
 * The result processor: applies the step results workers send back (`orchestration_step_results_queue`):
 * a success completes the step; a retryable failure with attempts left waits for its backoff (the handler's
 * retry-after hint, else the step's policy); any other failure fails the step. The step's task is then evaluated
 * and moved on — its next ready steps enqueued, or finalized — in the same transaction (`tasker_process_step_result`).
 * (With `inlineResultProcessing`, workers apply their results themselves through the same function; only results
 * that could not be applied inline, and lost-worker reports, come through here.)
 */
import { Context, Effect, Layer } from "effect"
import type { SqlError } from "effect/sql"
import { EngineConfig } from "../config/EngineConfig.ts"
import { EngineFunctions, type ProcessedResult } from "../db/EngineFunctions.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { RESULTS_QUEUE, workerQueueName } from "../messaging/Channels.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { withCorrelation } from "../telemetry/Correlation.ts"
import { recordResultApplied } from "../telemetry/EngineMetrics.ts"
import { createResultsQueueSeries } from "../telemetry/InitialSeries.ts"
import * as Metrics from "../telemetry/Metrics.ts"
import { continueTrace } from "../telemetry/TraceContext.ts"

export class ResultProcessor extends Context.Service<ResultProcessor, {
  /** Processes up to one batch of result messages; returns what happened to each. */
  readonly processBatch: Effect.Effect<ReadonlyArray<ProcessedResult>, SqlError.SqlError>
}>()("tasker/orchestration/ResultProcessor") {
  static readonly layer = Layer.effect(
    ResultProcessor,
    Effect.gen(function*() {
      const engine = yield* EngineFunctions
      const processor = yield* CurrentProcessor
      const wakeups = yield* Wakeups
      // the dead-letter counter at 0 from the start, so that increase() sees the first one
      yield* createResultsQueueSeries(RESULTS_QUEUE)

      /** Logs, spans and metrics of one processed message, in the task's correlation and trace. */
      const report = (row: ProcessedResult, batchMs: number, batchSize: number) => {
        const body = Effect.gen(function*() {
          const now = Date.now()
          yield* Metrics.increment(Metrics.messagesReceived, { queue: RESULTS_QUEUE, message_type: "SimpleStepMessage" })
          yield* Metrics.observeMs(Metrics.messageLatency, { queue: RESULTS_QUEUE, message_type: "SimpleStepMessage" }, now - row.enqueued_at.getTime())
          if (row.outcome === "error") {
            yield* Metrics.increment(Metrics.messageReceiveFailures, { error_type: "processing_error" })
            yield* Effect.logWarning("Step result could not be processed; it will be retried", {
              step_uuid: row.step_uuid,
              msg_id: String(row.msg_id),
              error: row.error
            })
          } else if (row.outcome === "dead_lettered") {
            yield* Metrics.increment(Metrics.messagesArchived, { queue: RESULTS_QUEUE, reason: "dead_lettered" })
            yield* Effect.logError("Step result moved to the dead-letter archive", { msg_id: String(row.msg_id), error: row.error })
          } else {
            // this process's worker and waiters learn at once of the steps enqueued and a task that finished (the
            // NOTIFY, marked as ours, is skipped when it comes back)
            if (row.enqueued_count > 0 && row.namespace_name !== null) {
              yield* wakeups.signal(workerQueueName(row.namespace_name))
            }
            if (row.task_uuid !== null && row.task_state !== null) {
              yield* wakeups.publishTaskEvent({ taskUuid: row.task_uuid, state: row.task_state })
            }
            yield* recordResultApplied({
              namespace: row.namespace_name ?? undefined,
              stepQueue: row.namespace_name === null ? undefined : workerQueueName(row.namespace_name),
              taskType: row.task_name ?? undefined,
              resultOutcome: row.outcome,
              taskState: row.task_state,
              enqueued: row.enqueued_count,
              durationMs: batchMs / Math.max(batchSize, 1)
            })
          }
        }).pipe(
          Effect.annotateLogs({ task_uuid: row.task_uuid ?? "", step_uuid: row.step_uuid ?? "" }),
          Effect.withSpan("ResultProcessor.applyResult", {
            attributes: { task_uuid: row.task_uuid ?? "", step_uuid: row.step_uuid ?? "", outcome: row.outcome }
          }),
          continueTrace(row.headers)
        )
        return row.correlation_id === null
          ? body
          : body.pipe(withCorrelation({ correlationId: row.correlation_id, parentCorrelationId: row.parent_correlation_id }))
      }

      const processBatch = Effect.gen(function*() {
        const config = yield* EngineConfig
        const started = performance.now()
        const rows = yield* engine.processResultMessages({
          processorUuid: processor.processorUuid,
          limit: config.resultBatchSize,
          visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
          maxReadCount: config.maxReadCount,
          maxBackoffSeconds: config.maxBackoffSeconds,
          jitter: config.backoffJitter
        })
        const batchMs = performance.now() - started
        if (rows.length > 0) yield* Metrics.observeMs(Metrics.messageReceiveDuration, { queue: RESULTS_QUEUE }, batchMs)
        yield* Effect.forEach(rows, (row) => report(row, batchMs, rows.length), { discard: true })
        return rows
      }).pipe(Effect.withSpan("ResultProcessor.processBatch"))

      return ResultProcessor.of({ processBatch })
    })
  )
}


