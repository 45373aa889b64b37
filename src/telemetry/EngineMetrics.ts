/**
 * The metrics (and log lines) of the engine's recurring events, recorded the same way whichever process saw
 * them: steps enqueued by an evaluation, a step result applied (by a worker inline or by an orchestrator), a task
 * that reached an end. The caller names the queue a namespace's steps go to (`workerQueueName`).
 */
import { Effect } from "effect"
import { CurrentCorrelation } from "./Correlation.ts"
import * as Metrics from "./Metrics.ts"
import { markFinished } from "./SeriesJanitor.ts"

/** `tasker.steps.enqueued.total` and `tasker.messages.sent.total` for steps an evaluation enqueued on `queue`. */
export const recordEnqueued = (namespace: string, queue: string, count: number) =>
  count === 0 ? Effect.void : Effect.all([
    Metrics.increment(Metrics.stepsEnqueued, { namespace }, count),
    Metrics.increment(Metrics.messagesSent, { queue, message_type: "SimpleStepMessage" }, count)
  ], { discard: true })

const resultTypes: Record<string, string> = {
  completed: "success",
  retry_scheduled: "retry",
  failed: "error",
  ignored: "ignored"
}

/**
 * The metrics of one applied result: results processed, processing and finalization durations, steps the
 * evaluation enqueued (on `stepQueue`, the namespace's worker queue), and the task's completion or failure.
 */
export const recordResultApplied = (r: {
  readonly namespace: string | undefined
  readonly stepQueue: string | undefined
  readonly taskType: string | undefined
  readonly resultOutcome: string | null
  readonly taskState: string | null
  readonly enqueued: number
  readonly durationMs: number
}) =>
  Effect.gen(function*() {
    const resultType = resultTypes[r.resultOutcome ?? ""] ?? (r.resultOutcome ?? "unknown")
    const ns = r.namespace === undefined ? {} : { namespace: r.namespace }
    yield* Metrics.increment(Metrics.stepResultsProcessed, { result_type: resultType, ...ns })
    yield* Metrics.observeMs(Metrics.stepResultProcessingDuration, { result_type: resultType }, r.durationMs)
    if (r.taskState !== null) {
      yield* Metrics.observeMs(Metrics.taskFinalizationDuration, { final_state: r.taskState }, r.durationMs)
    }
    if (r.namespace !== undefined && r.stepQueue !== undefined) yield* recordEnqueued(r.namespace, r.stepQueue, r.enqueued)
    yield* recordTaskOutcome(r.taskState, { ...ns, ...(r.taskType === undefined ? {} : { task_type: r.taskType }) })
  })

/** `tasker.tasks.completions.total` / `tasker.tasks.failures.total` when a task reached an end. */
export const recordTaskOutcome = (taskState: string | null, labels: Record<string, string>) =>
  taskState === "complete"
    ? Effect.all([
      Metrics.increment(Metrics.taskCompletions, labels),
      Effect.logInfo("Task completed"),
      finishedSeries
    ], { discard: true })
    : taskState === "blocked_by_failures" || taskState === "error"
    ? Effect.all([
      Metrics.increment(Metrics.taskFailures, { ...labels, error_type: taskState }),
      Effect.logWarning("Task failed", { status: taskState }),
      taskState === "error" ? finishedSeries : Effect.void
    ], { discard: true })
    : Effect.void

/** The current task finished for good: its metric series may be dropped after the next export. */
const finishedSeries = Effect.flatMap(CurrentCorrelation, (c) => markFinished(c?.correlationId))
