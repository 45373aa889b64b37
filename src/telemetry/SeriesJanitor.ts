/**
 * Keeps the memory of per-task metric series bounded. With `correlation_id` on metric attributes every task has
 * its own series; once a task has finished (complete, error, cancelled) and its series have been exported at
 * least once since, they are removed from the metric registry. The janitor runs every `interval` (the metric
 * export interval): ids finished before the previous run are dropped, ids finished since wait one more round.
 */
import { Context, Duration, Effect, Layer, Metric } from "effect"

class FinishedCorrelations {
  /** finished since the last sweep (not yet exported for sure) */
  current = new Set<string>()
  /** finished before the last sweep: exported at least once since */
  previous = new Set<string>()
}

export const FinishedTasks = Context.Reference<FinishedCorrelations>("tasker/telemetry/FinishedTasks", {
  defaultValue: () => new FinishedCorrelations()
})

/** Marks a task's correlation as finished (its series are dropped after the next export). */
export const markFinished = (correlationId: string | undefined) =>
  correlationId === undefined
    ? Effect.void
    : Effect.map(FinishedTasks, (finished) => {
      finished.current.add(correlationId)
    })

/** Drops the series of tasks that finished before the previous sweep; returns how many series were dropped. */
export const sweepSeries = Effect.gen(function*() {
  const finished = yield* FinishedTasks
  const registry = yield* Metric.MetricRegistry
  let dropped = 0
  if (finished.previous.size > 0) {
    for (const [key, metadata] of registry) {
      const id = metadata.attributes?.correlation_id
      if (typeof id === "string" && finished.previous.has(id)) {
        registry.delete(key)
        dropped++
      }
    }
  }
  finished.previous = finished.current
  finished.current = new Set()
  return dropped
})

/** Sweeps every `interval` while the layer lives. */
export const SeriesJanitorLayer = (interval: Duration.Input) =>
  Layer.effectDiscard(
    sweepSeries.pipe(Effect.delay(interval), Effect.forever, Effect.forkScoped)
  )
