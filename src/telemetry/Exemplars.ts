/**
 * Exemplars of the histograms: for every histogram series and bucket, the last observation that fell into it, with
 * the trace ID of the span it was recorded in and the correlation ID of its region. They replace a
 * `correlation_id` label on histograms: a latency outlier links to its trace and task without a series per task.
 *
 * `Metrics.observeMs` feeds the store; the `/metrics` endpoint (`MetricsEndpoint.ts`) prints them on the bucket
 * lines of the OpenMetrics exposition (`# {trace_id="…",correlation_id="…"} value timestamp`). An observation
 * outside any span and any correlation region leaves no exemplar. The store holds at most one exemplar per bucket
 * of each histogram series, so its size follows the histogram series, which carry no per-task label.
 *
 * OTLP: `@effect/opentelemetry` builds the SDK's data points from Effect's metric registry without exemplars (the
 * OpenTelemetry JS SDK's data point types have no field for them), so exemplars reach Prometheus only through the
 * scrape (docs/observability/metrics.md#exemplars).
 */
import { Context, Effect, Metric, Option, Tracer } from "effect"
import { CurrentCorrelation } from "./Correlation.ts"

/** One exemplar: an observation with the IDs of where it was recorded. */
export interface Exemplar {
  readonly value: number
  readonly traceId: string | undefined
  readonly correlationId: string | undefined
  /** when it was recorded, ms since the epoch */
  readonly timestampMs: number
}

/** The series key of a metric with its attributes (`unit`, which is no label, left out). */
export const seriesKey = (id: string, attributes: Readonly<Record<string, string>> | undefined): string =>
  JSON.stringify([
    id,
    Object.entries(attributes ?? {}).filter(([k]) => k !== "unit" && k !== "time_unit").sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
  ])

/** The upper bound (`le`) of the bucket `value` falls into: the first boundary ≥ value, else +Inf. */
export const bucketOf = (value: number, boundaries: ReadonlyArray<number>): number => {
  for (const b of boundaries) if (value <= b) return b
  return Number.POSITIVE_INFINITY
}

/** The last exemplar per histogram series and bucket. */
export class ExemplarStore {
  readonly series = new Map<string, Map<number, Exemplar>>()

  record(key: string, bucket: number, exemplar: Exemplar): void {
    let buckets = this.series.get(key)
    if (buckets === undefined) {
      buckets = new Map()
      this.series.set(key, buckets)
    }
    buckets.set(bucket, exemplar)
  }

  /** The exemplar of `key`'s bucket with upper bound `bucket`, if any. */
  get(key: string, bucket: number): Exemplar | undefined {
    return this.series.get(key)?.get(bucket)
  }
}

/** The process's exemplar store (one per process unless provided; tests provide a fresh one). */
export const Exemplars = Context.Reference<ExemplarStore>("tasker/telemetry/Exemplars", {
  defaultValue: () => new ExemplarStore()
})

/** The histogram boundaries of the metrics that record exemplars, by metric id (registered by `Metrics.ts`). */
const boundariesById = new Map<string, ReadonlyArray<number>>()

/** Declares `id` a histogram with `boundaries` whose observations record exemplars. */
export const registerHistogram = (id: string, boundaries: ReadonlyArray<number>): void => {
  boundariesById.set(id, boundaries)
}

/**
 * Records `value`, just observed in `metric` with `attributes`, as its bucket's exemplar when it was observed inside
 * a span or a correlation region. A no-op for metrics not declared with `registerHistogram`. `cache` keeps the
 * series key between calls with the same metric and attributes (computed again when metric attributes come from the
 * context).
 */
export const recordExemplar = (
  metric: Metric.Metric<number, unknown>,
  attributes: Readonly<Record<string, string>>,
  value: number,
  cache?: { exemplarKey: string | undefined }
): Effect.Effect<void> => {
  const boundaries = boundariesById.get(metric.id)
  if (boundaries === undefined) return Effect.void
  // (read from the context directly: this runs for every histogram observation)
  return Effect.contextWith((context: Context.Context<never>) => {
    const traceId = Option.getOrUndefined(Context.getOption(context, Tracer.ParentSpan))?.traceId
    const correlationId = Context.get(context, CurrentCorrelation)?.correlationId
    if (traceId === undefined && correlationId === undefined) return Effect.void
    const extra = Context.get(context, Metric.CurrentMetricAttributes)
    let key: string
    if (Object.keys(extra).length > 0) key = seriesKey(metric.id, { ...extra, ...attributes })
    else if (cache === undefined) key = seriesKey(metric.id, attributes)
    else key = cache.exemplarKey ??= seriesKey(metric.id, attributes)
    Context.get(context, Exemplars).record(key, bucketOf(value, boundaries), {
      value,
      traceId,
      correlationId,
      timestampMs: Date.now()
    })
    return Effect.void
  })
}
