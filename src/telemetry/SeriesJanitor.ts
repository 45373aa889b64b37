/**
 * Keeps the memory of per-task metric series bounded. With `correlation_id` on metric attributes every
 * correlation (a task request) has its own series of every metric it touches. The janitor removes them from the
 * metric registry once they are no longer changing and have been exported:
 *
 * - `withCorrelation` records when a correlation's regions start and end (`CorrelationActivity`). Every metric
 *   update with a `correlation_id` happens inside such a region, so a correlation with no region running has not
 *   changed its series since its last region ended. This costs two map updates per region, nothing per metric
 *   update, and works the same in every process (API-only, orchestrator, worker) and for every way a task ends.
 * - Each sweep advances a generation counter. A correlation is dropped (all its series) when no region of it is
 *   running and either it was marked finished (`markFinished`: the task completed or failed for good) and at
 *   least one full sweep interval has passed since its last region ended, or it has been idle for
 *   `SeriesIdleIntervals` (default 2) full sweep intervals. A series with a `correlation_id` that no region
 *   recorded (updated from a fiber that outlived its region, or by code that sets the attribute itself) counts as
 *   idle from the sweep that first sees it.
 * - The sweep runs every `max(interval, MetricExportInterval)`: never more often than the OTLP export, so every
 *   series is exported at least once after its last update before it is dropped (set `interval` to at least the
 *   Prometheus scrape interval when `/metrics` is scraped instead).
 *
 * A sweep is O(series + correlations). A dropped series that is updated again starts over from zero (a new
 * cumulative series).
 */
import { Context, Duration, Effect, Layer, Metric } from "effect"

interface Activity {
  /** regions of this correlation running now */
  active: number
  /** the sweep generation in which the last region ended (or the correlation was first seen) */
  last: number
  /** marked finished since its last region started */
  finished: boolean
}

/** Per correlation: regions running, and when the last one ended, counted in sweeps. */
export class CorrelationActivityState {
  /** incremented by every sweep */
  generation = 0
  readonly correlations = new Map<string, Activity>()

  private get(id: string): Activity {
    let activity = this.correlations.get(id)
    if (activity === undefined) {
      activity = { active: 0, last: this.generation, finished: false }
      this.correlations.set(id, activity)
    }
    return activity
  }

  /** A region of `id` starts. */
  enter(id: string): void {
    const activity = this.get(id)
    activity.active++
    activity.finished = false
  }

  /** A region of `id` ends. */
  exit(id: string): void {
    const activity = this.get(id)
    activity.active = Math.max(0, activity.active - 1)
    activity.last = this.generation
  }

  /** `id`'s task finished for good. */
  finish(id: string): void {
    const activity = this.get(id)
    activity.finished = true
    activity.last = this.generation
  }
}

/** The process's correlation activity (one per process unless provided; tests provide a fresh one). */
export const CorrelationActivity = Context.Reference<CorrelationActivityState>("tasker/telemetry/CorrelationActivity", {
  defaultValue: () => new CorrelationActivityState()
})

/**
 * After how many full sweep intervals without activity a correlation's series are dropped, finished or not
 * (default 2; at least 1). `telemetryLayerFromEnv` reads it from `TASKER_METRICS_SERIES_IDLE_INTERVALS`.
 */
export const SeriesIdleIntervals = Context.Reference<number>("tasker/telemetry/SeriesIdleIntervals", {
  defaultValue: () => 2
})

/**
 * The interval (ms) of the OTLP metric export, when one runs (provided by `otlpLayer`). The janitor never sweeps
 * more often than this, whatever interval it is given.
 */
export const MetricExportInterval = Context.Reference<number | undefined>("tasker/telemetry/MetricExportInterval", {
  defaultValue: () => undefined
})

/** Marks a task's correlation as finished: its series are dropped one full sweep interval after its last region. */
export const markFinished = (correlationId: string | undefined) =>
  correlationId === undefined
    ? Effect.void
    : Effect.map(CorrelationActivity, (activity) => activity.finish(correlationId))

/** Runs `self` as a region of `correlationId` (see the module docs); used by `withCorrelation`. */
export const trackCorrelation = (correlationId: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(CorrelationActivity, (activity) =>
    Effect.acquireUseRelease(
      Effect.sync(() => activity.enter(correlationId)),
      () => self,
      () => Effect.sync(() => activity.exit(correlationId))
    ))

/** Drops the series of finished and idle correlations (see the module docs); returns how many were dropped. */
export const sweepSeries = Effect.gen(function*() {
  const activity = yield* CorrelationActivity
  const registry = yield* Metric.MetricRegistry
  const idleIntervals = Math.max(1, Math.floor(yield* SeriesIdleIntervals))
  const generation = activity.generation
  const drop = new Set<string>()
  for (const [id, a] of activity.correlations) {
    if (a.active > 0) continue
    if (generation - a.last >= (a.finished ? 1 : idleIntervals)) {
      drop.add(id)
      activity.correlations.delete(id)
    }
  }
  let dropped = 0
  for (const [key, metadata] of registry) {
    const id = metadata.attributes?.correlation_id
    if (typeof id !== "string") continue
    if (drop.has(id)) {
      registry.delete(key)
      dropped++
    } else if (!activity.correlations.has(id)) {
      // updated outside any recorded region: idle from now
      activity.correlations.set(id, { active: 0, last: generation, finished: false })
    }
  }
  activity.generation = generation + 1
  return dropped
})

/** The janitor's effective interval: the configured one, but never shorter than the export interval (nor 10 ms). */
export const sweepIntervalMs = (configuredMs: number, exportIntervalMs: number | undefined): number =>
  Math.max(10, configuredMs, exportIntervalMs ?? 0)

/** Sweeps every `max(interval, MetricExportInterval)` while the layer lives. */
export const SeriesJanitorLayer = (interval: Duration.Input) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const every = sweepIntervalMs(Duration.toMillis(interval), yield* MetricExportInterval)
    yield* sweepSeries.pipe(Effect.delay(Duration.millis(every)), Effect.forever, Effect.forkScoped)
  }))
