/**
 * The result processor: applies the step results workers send back (`orchestration_step_results_queue`):
 * a success completes the step; a retryable failure with attempts left waits for its backoff (the handler's
 * retry-after hint, else the step's policy); any other failure fails the step. The step's task is then evaluated
 * and moved on — its next ready steps enqueued, or finalized — in the same transaction (`tasker_process_step_result`).
 */
import { Context, Effect, Layer } from "effect"
import type { SqlError } from "effect/sql"
import { CurrentProcessor } from "../db/Processors.ts"
import { EngineConfig } from "./EngineConfig.ts"
import { EngineFunctions, type ProcessedResult } from "./EngineFunctions.ts"

export class ResultProcessor extends Context.Service<ResultProcessor, {
  /** Processes up to one batch of result messages; returns what happened to each. */
  readonly processBatch: Effect.Effect<ReadonlyArray<ProcessedResult>, SqlError.SqlError>
}>()("tasker/orchestration/ResultProcessor") {
  static readonly layer = Layer.effect(
    ResultProcessor,
    Effect.gen(function*() {
      const engine = yield* EngineFunctions
      const processor = yield* CurrentProcessor

      const processBatch = Effect.gen(function*() {
        const config = yield* EngineConfig
        const rows = yield* engine.processResultMessages({
          processorUuid: processor.processorUuid,
          limit: config.resultBatchSize,
          visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
          maxReadCount: config.maxReadCount,
          maxBackoffSeconds: config.maxBackoffSeconds,
          jitter: config.backoffJitter
        })
        for (const row of rows) {
          if (row.outcome === "error") {
            yield* Effect.logWarning("step result could not be processed; it will be retried", {
              step_uuid: row.step_uuid,
              msg_id: String(row.msg_id),
              error: row.error
            })
          } else if (row.outcome === "dead_lettered") {
            yield* Effect.logWarning("step result moved to the dead-letter archive", {
              msg_id: String(row.msg_id),
              reason: row.error
            })
          }
        }
        return rows
      }).pipe(Effect.withSpan("ResultProcessor.processBatch"))

      return ResultProcessor.of({ processBatch })
    })
  )
}
