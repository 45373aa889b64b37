/**
 * The correlation ID of the task being worked on (and its parent's), in one fiber-local reference. One combinator,
 * `withCorrelation`, sets it for a region; inside that region, without anyone passing it by hand:
 * - every log line carries `correlation_id` (and `parent_correlation_id` when set),
 * - every span created carries them as attributes,
 * - every metric update carries `correlation_id` as an attribute (unless `CorrelationOnMetrics` is off).
 *
 * Entry points set it: task creation (the request's ID, or a new UUIDv7), the worker running a step (the ID in the
 * step message), the orchestrator applying a result. It is stored on the task, travels in every queue message and
 * is handed to every handler (`ctx.correlationId`).
 */
import { Context, Effect, Metric } from "effect"
import { trackCorrelation } from "./SeriesJanitor.ts"

export interface CorrelationIds {
  readonly correlationId: string
  readonly parentCorrelationId: string | null
}

export const CurrentCorrelation = Context.Reference<CorrelationIds | undefined>("tasker/telemetry/CurrentCorrelation", {
  defaultValue: () => undefined
})

/**
 * Whether metric updates carry `correlation_id` (default true). Each task then has its own series of every metric
 * it touches: that is what lets you read one task's counts, and its cost is one series per task and metric until
 * the series are dropped after export, once finished or idle (see `SeriesJanitor`). Turn it off
 * (`TASKER_METRICS_CORRELATION=false`) for very high task rates.
 */
export const CorrelationOnMetrics = Context.Reference<boolean>("tasker/telemetry/CorrelationOnMetrics", {
  defaultValue: () => true
})

/**
 * Sets the correlation of `self`'s region (logs, spans, metric attributes, `CurrentCorrelation`). With
 * correlation on metrics, the region's start and end are also recorded for the series janitor, which keeps the
 * correlation's series while a region runs.
 */
export const withCorrelation = (ids: CorrelationIds) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const annotations: Record<string, string> = ids.parentCorrelationId === null
    ? { correlation_id: ids.correlationId }
    : { correlation_id: ids.correlationId, parent_correlation_id: ids.parentCorrelationId }
  return Effect.flatMap(CorrelationOnMetrics, (onMetrics) => {
    const annotated = self.pipe(
      Effect.provideService(CurrentCorrelation, ids),
      Effect.annotateLogs(annotations),
      Effect.annotateSpans(annotations)
    )
    return onMetrics
      ? Effect.updateService(annotated, Metric.CurrentMetricAttributes, (a) => ({ ...a, correlation_id: ids.correlationId }))
        .pipe(trackCorrelation(ids.correlationId))
      : annotated
  })
}
