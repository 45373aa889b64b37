/**
 * Counter series created at 0 before their first event, wherever their label set is known in advance: per
 * template (its namespace, name, steps and worker queue) when it is registered or read back, plus the label
 * values the engine itself chooses (result types, claim methods, the error types of its own step errors).
 *
 * Why: Prometheus' `increase()`/`rate()` compute the growth between samples of one series. A series that first
 * appears with the value 1 has no earlier sample, so its first increment is invisible (and an `increase()` over a
 * window that begins before it appeared under-counts). A series scraped at 0 before the event counts it exactly.
 *
 * Not covered (docs/observability/promql.md#which-queries-are-exact): the series with `correlation_id` (one per
 * task, they appear at their first event), error types a handler chooses (`StepError`'s `errorType`, a defect's
 * class name), labels of templates registered by another process after this one started, and counters whose labels
 * are open-ended (SQLSTATE codes of connection errors).
 */
import { Effect, Metric } from "effect"
import * as Metrics from "./Metrics.ts"

/** A template's labels, as the engine records them. */
export interface TemplateSeries {
  readonly namespace: string
  /** the template's name (`task_type`) */
  readonly taskType: string
  /** the namespace's worker queue */
  readonly queue: string
  readonly steps: ReadonlyArray<{
    readonly name: string
    /** the handler's kind (`effect`, `promise`) when this process hosts it; without one no execution series is made */
    readonly handlerType?: string | undefined
  }>
}

/** The error types of the engine's own step errors, with whether they are retryable (`Worker.ts`, `StepExecutor.ts`). */
export const ENGINE_STEP_ERROR_TYPES: ReadonlyArray<readonly [errorType: string, retryable: boolean]> = [
  ["ValidationError", false],
  ["HandlerNotFound", false],
  ["OutputError", false],
  ["Timeout", true],
  ["DependencyError", true]
]

/** `tasker.steps.results_processed.total`'s result types (`EngineMetrics.ts`). */
export const RESULT_TYPES: ReadonlyArray<string> = ["success", "retry", "error", "ignored"]
/** `tasker.steps.results_submitted.total`'s result types (`Worker.ts`). */
export const SUBMITTED_RESULT_TYPES: ReadonlyArray<string> = ["processed", "submitted", "superseded", "discarded"]
/** `tasker.steps.claimed.total`'s claim methods (`Worker.ts`). */
export const CLAIM_METHODS: ReadonlyArray<string> = ["event", "poll", "handoff"]
/** the end states `tasker.tasks.failures.total` counts (`error_type`) */
export const TASK_FAILURE_STATES: ReadonlyArray<string> = ["blocked_by_failures", "error"]

/**
 * Creates `metric`'s series with `attributes` at 0 (a series that exists keeps its value). Never with the region's
 * correlation: these are the fleet-wide series.
 */
const zero = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Metric.update(Metrics.labelled(metric, attributes), 0)

/** Every counter series of `template` at 0 (see the module docs for which). */
export const createTemplateSeries = (template: TemplateSeries): Effect.Effect<void> => {
  const namespace = template.namespace
  const task = { task_type: template.taskType, namespace }
  const effects: Array<Effect.Effect<void>> = [
    zero(Metrics.taskRequests, task),
    zero(Metrics.taskCompletions, task),
    zero(Metrics.tasksWithoutLiveWorker, task),
    ...TASK_FAILURE_STATES.map((state) => zero(Metrics.taskFailures, { ...task, error_type: state })),
    zero(Metrics.stepsEnqueued, { namespace }),
    zero(Metrics.messagesSent, { queue: template.queue, message_type: "SimpleStepMessage" }),
    zero(Metrics.messagesReceived, { queue: template.queue, message_type: "SimpleStepMessage" }),
    zero(Metrics.messagesArchived, { queue: template.queue, reason: "dead_lettered" }),
    ...RESULT_TYPES.map((type) => zero(Metrics.stepResultsProcessed, { result_type: type, namespace })),
    ...CLAIM_METHODS.map((method) => zero(Metrics.stepsClaimed, { namespace, claim_method: method })),
    ...SUBMITTED_RESULT_TYPES.map((type) => zero(Metrics.resultsSubmitted, { result_type: type }))
  ]
  for (const step of template.steps) {
    const labels = { namespace, step_name: step.name }
    if (step.handlerType !== undefined) effects.push(zero(Metrics.stepExecutions, { ...labels, handler_type: step.handlerType }))
    effects.push(zero(Metrics.stepSuccesses, labels))
    for (const [errorType, retryable] of ENGINE_STEP_ERROR_TYPES) {
      effects.push(zero(Metrics.stepFailures, { ...labels, error_type: errorType, retryable: String(retryable) }))
    }
  }
  return Effect.all(effects, { discard: true })
}

/** The results queue's dead-letter counter at 0 (an orchestrator's results loop creates it when it starts). */
export const createResultsQueueSeries = (resultsQueue: string): Effect.Effect<void> =>
  zero(Metrics.messagesArchived, { queue: resultsQueue, reason: "dead_lettered" })
