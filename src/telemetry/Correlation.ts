/**
 * The correlation ID of the task being worked on (and its parent's), in one fiber-local reference. One combinator,
 * `withCorrelation`, sets it for a region; inside that region, without anyone passing it by hand:
 * - every log line carries `correlation_id` (and `parent_correlation_id` when set),
 * - every span created carries them as attributes,
 * - the task- and step-level counters carry `correlation_id` as an attribute (unless `CorrelationOnMetrics` is off;
 *   `Metrics.increment` adds it), and histogram observations carry it in their exemplars (`Exemplars.ts`).
 *
 * Entry points set it: task creation (the request's ID, or a new UUIDv7), the worker running a step (the ID in the
 * step message), the orchestrator applying a result. It is stored on the task, travels in every queue message and
 * is handed to every handler (`ctx.correlationId`).
 */
import { Context, Effect } from "effect"
import { trackCorrelation } from "./SeriesJanitor.ts"

export interface CorrelationIds {
  readonly correlationId: string
  readonly parentCorrelationId: string | null
}

export const CurrentCorrelation = Context.Reference<CorrelationIds | undefined>("tasker/telemetry/CurrentCorrelation", {
  defaultValue: () => undefined
})

/**
 * Whether the task- and step-level counters carry `correlation_id` (default true). Each task then has its own
 * series of those counters (about 15 for a four-step task; docs/observability/metrics.md): that is what lets you
 * read one task's counts, until the series are dropped after export, once finished or idle (see `SeriesJanitor`).
 * Histograms, gauges and the SQL/messaging counters never carry it. Turn it off (`TASKER_METRICS_CORRELATION=false`)
 * for very high task rates, or for exact `increase()`/`rate()` over the per-task counters (docs/observability/promql.md).
 */
export const CorrelationOnMetrics = Context.Reference<boolean>("tasker/telemetry/CorrelationOnMetrics", {
  defaultValue: () => true
})

/**
 * Sets the correlation of `self`'s region (logs, spans, `CurrentCorrelation`, which `Metrics.increment` and the
 * exemplars read). With correlation on metrics, the region's start and end are also recorded for the series
 * janitor, which keeps the correlation's series while a region runs.
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
    return onMetrics ? annotated.pipe(trackCorrelation(ids.correlationId)) : annotated
  })
}
