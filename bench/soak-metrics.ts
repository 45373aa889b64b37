/**
 * Metrics memory soak: 100 000 tasks' worth of metric updates, each task in its own correlation (so each creates
 * its own series of every metric it touches, as the engine does with `correlation_id` on metrics), with the
 * series janitor sweeping at every "export interval" (every 5 000 tasks here). Prints the registry size and heap
 * as it goes: with the janitor both stay flat; without it (`--no-janitor`) they grow with every task.
 *
 *   node --expose-gc bench/soak-metrics.ts [--tasks 100000] [--no-janitor]
 */
import { Effect, Metric } from "effect"
import { v7 as uuidv7 } from "uuid"
import { withCorrelation } from "../src/telemetry/Correlation.ts"
import * as Metrics from "../src/telemetry/Metrics.ts"
import { markFinished, sweepSeries } from "../src/telemetry/SeriesJanitor.ts"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const tasks = arg("--tasks", 100_000)
const janitor = !process.argv.includes("--no-janitor")
const sweepEvery = 5_000
const gc = (globalThis as { gc?: () => void }).gc

/** The metric updates one linear-4 task causes in the engine (same metrics, same attributes). */
const oneTask = (correlationId: string) =>
  Effect.gen(function*() {
    const labels = { task_type: "mathematical_sequence", namespace: "rust_e2e_linear" }
    yield* Metrics.increment(Metrics.taskRequests, labels)
    yield* Metrics.observeMs(Metrics.taskInitializationDuration, { task_type: labels.task_type }, 3)
    for (let step = 1; step <= 4; step++) {
      const stepLabels = { namespace: labels.namespace, step_name: `linear_step_${step}` }
      yield* Metrics.increment(Metrics.stepsEnqueued, { namespace: labels.namespace })
      yield* Metrics.increment(Metrics.stepsClaimed, { namespace: labels.namespace, claim_method: "event" })
      yield* Metrics.increment(Metrics.stepExecutions, { ...stepLabels, handler_type: "effect" })
      yield* Metrics.increment(Metrics.stepSuccesses, stepLabels)
      yield* Metrics.observeMs(Metrics.stepExecutionDuration, { namespace: labels.namespace, result: "success" }, 0.2)
      yield* Metrics.observeMs(Metrics.stepResultSubmissionDuration, { result_type: "processed" }, 2)
      yield* Metrics.increment(Metrics.stepResultsProcessed, { result_type: "success", namespace: labels.namespace })
    }
    yield* Metrics.increment(Metrics.taskCompletions, labels)
    yield* markFinished(correlationId)
  }).pipe(withCorrelation({ correlationId, parentCorrelationId: null }))

const program = Effect.gen(function*() {
  const registry = yield* Metric.MetricRegistry
  const rows: Array<{ tasks: number; series: number; heapMB: number }> = []
  for (let i = 1; i <= tasks; i++) {
    yield* oneTask(uuidv7())
    if (i % sweepEvery === 0) {
      if (janitor) yield* sweepSeries
      gc?.()
      const row = { tasks: i, series: registry.size, heapMB: Math.round(process.memoryUsage().heapUsed / 1e5) / 10 }
      rows.push(row)
      if (i % (sweepEvery * 4) === 0 || i === tasks) console.log(`${String(i).padStart(7)} tasks  ${String(row.series).padStart(8)} series  ${row.heapMB} MB heap`)
    }
  }
  return rows
})

console.log(`${tasks} tasks, janitor ${janitor ? "on" : "off"}, sweep every ${sweepEvery} tasks${gc === undefined ? " (run with --expose-gc for stable heap numbers)" : ""}`)
const started = performance.now()
const rows = await Effect.runPromise(program)
const half = rows[Math.floor(rows.length / 2)]!
const last = rows.at(-1)!
console.log(`heap at ${half.tasks}: ${half.heapMB} MB, at ${last.tasks}: ${last.heapMB} MB; series ${half.series} → ${last.series}; ${((performance.now() - started) / 1000).toFixed(1)} s`)
