/**
 * The task evaluator: evaluates a task this processor owns (a claimed or taken-over task) and moves it on by its
 * execution status — enqueue ready steps, complete it, block it on failures, or park it waiting for retries or
 * dependencies (`tasker_evaluate_task`). Result processing runs the same evaluation inside its own transaction.
 *
 * The readiness loop evaluates a task in the task's own region (`inTaskRegion`): its correlation (logs, span
 * attributes, metric attributes) and its trace, continued from the trace context stored on the task when it was
 * created. So an evaluation, and the steps it enqueues, appear in the task's trace, found by `task_uuid` and
 * `correlation_id` like the rest of its work.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { TaskUuid } from "../domain/Ids.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { EngineConfig } from "../config/EngineConfig.ts"
import { EngineFunctions, type EvaluationRow } from "../db/EngineFunctions.ts"
import { withCorrelation } from "../telemetry/Correlation.ts"
import { continueTrace, currentTraceHeaders } from "../telemetry/TraceContext.ts"

/** What a task's region needs: its correlation and the trace context stored when it was created. */
export const TaskRegion = Schema.Struct({
  task_uuid: TaskUuid,
  correlation_id: Schema.String,
  parent_correlation_id: Schema.NullOr(Schema.String),
  trace_headers: Schema.Json
})
export type TaskRegion = typeof TaskRegion.Type

/**
 * Runs `self` in a task's region: `task_uuid` on its logs and spans, the task's correlation (`withCorrelation`),
 * and, when the task has a stored `traceparent`, as a continuation of the task's trace (`continueTrace`).
 */
export const inTaskRegion = (region: TaskRegion) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.annotateLogs({ task_uuid: region.task_uuid }),
    Effect.annotateSpans({ task_uuid: region.task_uuid }),
    continueTrace(region.trace_headers),
    withCorrelation({ correlationId: region.correlation_id, parentCorrelationId: region.parent_correlation_id })
  )

export class TaskEvaluator extends Context.Service<TaskEvaluator, {
  /**
   * undefined for an unknown task. The steps it enqueues continue the current trace (their messages carry the
   * current span as `traceparent`; outside any span, the task's stored context).
   */
  readonly evaluate: (taskUuid: TaskUuid) => Effect.Effect<EvaluationRow | undefined, SqlError.SqlError>
  /** The regions of these tasks (unknown tasks are left out), in one query. */
  readonly regions: (taskUuids: ReadonlyArray<TaskUuid>) => Effect.Effect<ReadonlyMap<TaskUuid, TaskRegion>, SqlError.SqlError>
}>()("tasker/orchestration/TaskEvaluator") {
  static readonly layer = Layer.effect(
    TaskEvaluator,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const engine = yield* EngineFunctions
      const processor = yield* CurrentProcessor
      const findRegions = SqlSchema.findAll({
        Request: Schema.Array(TaskUuid),
        Result: TaskRegion,
        execute: (uuids) =>
          sql`SELECT task_uuid, correlation_id, parent_correlation_id, trace_headers
              FROM tasker_tasks WHERE task_uuid IN ${sql.in(uuids)}`
      })
      return TaskEvaluator.of({
        evaluate: Effect.fn("TaskEvaluator.evaluate")(function*(taskUuid: TaskUuid) {
          const config = yield* EngineConfig
          yield* Effect.annotateCurrentSpan("task_uuid", taskUuid)
          return yield* engine.evaluateTask(taskUuid, processor.processorUuid, {
            headers: yield* currentTraceHeaders,
            staleAfterSeconds: config.staleAfterSeconds
          })
        }),
        regions: Effect.fn("TaskEvaluator.regions")(function*(taskUuids: ReadonlyArray<TaskUuid>) {
          if (taskUuids.length === 0) return new Map<TaskUuid, TaskRegion>()
          const rows = yield* findRegions(taskUuids).pipe(Effect.catchTag("SchemaError", (e) => Effect.die(e)))
          return new Map(rows.map((r) => [r.task_uuid, r]))
        })
      })
    })
  )
}
