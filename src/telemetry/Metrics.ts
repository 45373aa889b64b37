/**
 * The metrics catalog: every metric the engine records, with tasker-core's names, units and attribute names, in
 * one place. Durations are milliseconds (fractions kept) in histograms with explicit boundaries from 0.1 ms to 10 s.
 *
 * Units: every metric carries its OTLP unit as the `unit` attribute (`ms` for durations and ages, a UCUM
 * annotation such as `{task}` or `{message}` for counts). That is how `@effect/opentelemetry` learns a metric's
 * unit; without it every metric would go out with unit `1`, which Prometheus translators turn into a `_ratio`
 * suffix. The attribute itself is not a dimension: Prometheus text (`PrometheusMetrics`) leaves it out, and the
 * OTLP exporter of `layers/telemetry.ts` removes it from the data points (`withoutUnitAttribute`).
 *
 * Correlation: only the task- and step-level counters (`perTask` below: requests, completions, failures, steps
 * enqueued, results processed, executions, successes, failures, claims, results submitted, tasks without a live
 * worker) carry `correlation_id` as an attribute, and only when `increment` is called inside a `withCorrelation`
 * region with `CorrelationOnMetrics` on: that is where one task's counts are wanted, at a bounded cost of a few
 * series per task. Histograms never carry it; `observeMs` records the correlation and trace IDs of the observation
 * as an exemplar instead (`Exemplars.ts`), and gauges and the SQL/messaging counters are per process.
 *
 * The other attributes are given where the metric is recorded (`increment`/`observeMs` take them explicitly).
 * docs/observability/metrics.md lists each metric with the point it is recorded at.
 */
import { Context, Effect, Metric } from "effect"
import { CorrelationOnMetrics, CurrentCorrelation } from "./Correlation.ts"
import { recordExemplar, registerHistogram } from "./Exemplars.ts"

/** Histogram boundaries in milliseconds: sub-millisecond SQL calls to multi-second handlers. */
export const latencyBoundariesMs: ReadonlyArray<number> = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
]

/** The attribute that carries a metric's unit (read by `@effect/opentelemetry`, skipped by `PrometheusMetrics`). */
export const UNIT_ATTRIBUTE = "unit"

const perTaskIds = new Set<string>()

/**
 * How each catalog metric is made with its attributes built in (`labelled`): a metric whose attributes are its own
 * caches its series key, where `Metric.withAttributes` would merge the attributes and rebuild the key (a sorted
 * JSON string) on every update.
 */
const makers = new WeakMap<Metric.Metric<number, unknown>, (attributes: Record<string, string>) => Metric.Metric<number, unknown>>()
const catalog = <M extends Metric.Metric<number, unknown>>(
  make: (attributes: Record<string, string>) => M,
  unit: string
): M => {
  const metric = make({ [UNIT_ATTRIBUTE]: unit })
  makers.set(metric, (attributes) => make({ [UNIT_ATTRIBUTE]: unit, ...attributes }))
  return metric
}

const counter = (name: string, description: string, unit: string) =>
  catalog((attributes) => Metric.counter(name, { description, incremental: true, attributes }), unit)
/** A task- or step-level counter: `increment` adds the region's `correlation_id` (see the module docs). */
const perTask = (name: string, description: string, unit: string) => {
  perTaskIds.add(name)
  return counter(name, description, unit)
}
const histogramMs = (name: string, description: string) => {
  registerHistogram(name, latencyBoundariesMs)
  return catalog(
    (attributes) => Metric.histogram(name, { description, boundaries: latencyBoundariesMs, attributes }),
    "ms"
  )
}
const gauge = (name: string, description: string, unit: string) =>
  catalog((attributes) => Metric.gauge(name, { description, attributes }), unit)

/** A catalog metric with attributes, made once per attribute set (at most `MAX_LABELLED`, oldest dropped first). */
interface Labelled {
  readonly metric: Metric.Metric<number, unknown>
  /** the exemplar series key of a histogram (`Exemplars.seriesKey`), computed once */
  exemplarKey: string | undefined
}
const labelledCache = new Map<string, Labelled>()
const MAX_LABELLED = 10_000

const labelledEntry = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>): Labelled => {
  const make = makers.get(metric)
  if (make === undefined) return { metric: Metric.withAttributes(metric, attributes), exemplarKey: undefined }
  let key = metric.id
  for (const name in attributes) key += `\u0000${name}\u0001${attributes[name]}`
  let entry = labelledCache.get(key)
  if (entry === undefined) {
    if (labelledCache.size >= MAX_LABELLED) labelledCache.delete(labelledCache.keys().next().value!)
    entry = { metric: make(attributes), exemplarKey: undefined }
    labelledCache.set(key, entry)
  }
  return entry
}

/**
 * `metric` with `attributes`, the same series as `Metric.withAttributes(metric, attributes)`, made once per attribute
 * set for the catalog's metrics (whose updates then skip merging attributes and building the series key).
 */
export const labelled = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  labelledEntry(metric, attributes).metric

// --- orchestration -------------------------------------------------------------------------------------------

/** O1: task creation requests (attempts, before the transaction); attrs task_type, namespace */
export const taskRequests = perTask("tasker.tasks.requests.total", "Task creation requests", "{request}")
/** O2: tasks that reached `complete`; attrs task_type, namespace */
export const taskCompletions = perTask("tasker.tasks.completions.total", "Tasks completed", "{task}")
/** O3: tasks that failed (blocked_by_failures or error); attrs task_type, namespace, error_type (final state) */
export const taskFailures = perTask("tasker.tasks.failures.total", "Tasks failed", "{task}")
/** O4: steps enqueued for workers; attrs namespace */
export const stepsEnqueued = perTask("tasker.steps.enqueued.total", "Steps enqueued for workers", "{step}")
/** O5: step results applied; attrs result_type (success, retry, error, ignored), namespace */
export const stepResultsProcessed = perTask("tasker.steps.results_processed.total", "Step results processed", "{result}")
/** O6: task creation, request to commit; attrs task_type */
export const taskInitializationDuration = histogramMs("tasker.task.initialization.duration", "Task initialization duration")
/** O7: evaluation and finalization of a task after a result; attrs final_state */
export const taskFinalizationDuration = histogramMs("tasker.task.finalization.duration", "Task finalization duration")
/** O8: applying one step result (its transaction); attrs result_type */
export const stepResultProcessingDuration = histogramMs(
  "tasker.step_result.processing.duration",
  "Step result processing duration"
)
/** O9: tasks per state (sampled); attrs state */
export const tasksActive = gauge("tasker.tasks.active", "Tasks by state", "{task}")
/** O10: steps enqueued and not yet claimed (sampled); attrs namespace */
export const stepsReady = gauge("tasker.steps.ready", "Steps enqueued and waiting for a worker", "{step}")
/** O11: tasks created while no live worker hosts their template (they wait for one); attrs task_type, namespace */
export const tasksWithoutLiveWorker = perTask(
  "tasker.tasks.no_live_worker.total",
  "Tasks created while no live worker hosts their template",
  "{task}"
)

// --- worker ----------------------------------------------------------------------------------------------------

/** W1: step executions started (a handler invoked); attrs namespace, step_name, handler_type */
export const stepExecutions = perTask("tasker.steps.executions.total", "Step executions", "{execution}")
/** W2: handlers that succeeded; attrs namespace, step_name */
export const stepSuccesses = perTask("tasker.steps.successes.total", "Step handler successes", "{execution}")
/** W3: handlers that failed; attrs namespace, step_name, error_type, retryable */
export const stepFailures = perTask("tasker.steps.failures.total", "Step handler failures", "{execution}")
/** W4: steps claimed; attrs namespace, claim_method (event, poll) */
export const stepsClaimed = perTask("tasker.steps.claimed.total", "Steps claimed", "{step}")
/** W5: results recorded by workers; attrs result_type (processed, submitted, superseded, discarded) */
export const resultsSubmitted = perTask("tasker.steps.results_submitted.total", "Step results submitted", "{result}")
/** W6: handler execution, start to result; attrs namespace, result (success, failure) */
export const stepExecutionDuration = histogramMs("tasker.step.execution.duration", "Step handler execution duration")
/** W7: the claim round trip; attrs namespace, claim_method */
export const stepClaimDuration = histogramMs("tasker.step.claim.duration", "Step claim duration")
/** W8: recording a result (and applying it, inline); attrs result_type */
export const stepResultSubmissionDuration = histogramMs(
  "tasker.step_result.submission.duration",
  "Step result submission duration"
)
/** W9: steps running on this worker now; attrs namespace */
export const stepsActiveExecutions = gauge("tasker.steps.active_executions", "Steps executing on this worker", "{step}")
/** W10: messages in a queue, in-flight ones included (sampled); attrs queue */
export const queueDepth = gauge("tasker.queue.depth", "Messages in the queue", "{message}")

// --- database --------------------------------------------------------------------------------------------------

/** SQL function calls; attrs query_type (the function), result (success, error) */
export const sqlQueries = counter("tasker.sql.queries.total", "SQL function calls", "{call}")
/** SQL function call duration; attrs query_type, result */
export const sqlQueryDuration = histogramMs("tasker.sql.query.duration", "SQL function call duration")
/** transactions of the engine (one per fused SQL function); attrs transaction_type, result (commit, rollback) */
export const dbTransactionDuration = histogramMs("tasker.db.transaction.duration", "Database transaction duration")
/**
 * failed SQL function calls whose error is a connection failure: SQLSTATE class 08, the server ending the session
 * (57P01, 57P02, 57P03), or a socket or connect error; attrs error_type (the SQLSTATE or system error code)
 */
export const dbConnectionErrors = counter("tasker.db.connection.errors.total", "Database connection errors", "{error}")
/**
 * sessions on the current database whose `application_name` equals the sampling session's (sampled), so every
 * process that shares the name; attrs pool, application_name, state
 */
export const dbPoolConnections = gauge(
  "tasker.db.pool.connections",
  "Database sessions with this application's application_name",
  "{connection}"
)

// --- messaging -------------------------------------------------------------------------------------------------

/** messages sent; attrs queue, message_type */
export const messagesSent = counter("tasker.messages.sent.total", "Messages sent", "{message}")
/** messages received; attrs queue, message_type */
export const messagesReceived = counter("tasker.messages.received.total", "Messages received", "{message}")
/** messages archived (dead letters included); attrs queue, reason */
export const messagesArchived = counter("tasker.messages.archived.total", "Messages archived", "{message}")
/** messages that `MessageQueue.send`/`sendBatch` failed to send; attrs queue, error_type */
export const messageSendFailures = counter("tasker.messages.send_failures.total", "Message send failures", "{message}")
/** receive failures; attrs error_type */
export const messageReceiveFailures = counter(
  "tasker.messages.receive_failures.total",
  "Message receive failures",
  "{message}"
)
/** time from a message's enqueue to its receipt; attrs queue, message_type */
export const messageLatency = histogramMs("tasker.message.latency", "Message latency (enqueued to received)")
/** `MessageQueue.send`/`sendBatch` call duration; attrs queue, result */
export const messageSendDuration = histogramMs("tasker.message.send.duration", "Message send duration")
/** receive call duration; attrs queue */
export const messageReceiveDuration = histogramMs("tasker.message.receive.duration", "Message receive duration")
/** `MessageQueue.archive` call duration; attrs queue, result */
export const messageArchiveDuration = histogramMs("tasker.message.archive.duration", "Message archive duration")
/** age of the oldest message (sampled); attrs queue */
export const queueOldestMessageAge = gauge("tasker.queue.oldest_message.age", "Age of the oldest message", "ms")

// --- helpers ---------------------------------------------------------------------------------------------------

/** The region's correlation ID when correlation on metrics is on (read from the context, without an Effect.gen). */
const correlationIdOf = (context: Context.Context<never>): string | undefined =>
  Context.get(context, CorrelationOnMetrics) ? Context.get(context, CurrentCorrelation)?.correlationId : undefined

/** Adds `by` (default 1) to `metric` with `attributes`, and the region's correlation when it is a per-task counter. */
export const increment = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>, by = 1) =>
  perTaskIds.has(metric.id)
    ? Effect.contextWith((context: Context.Context<never>) => {
      const correlationId = correlationIdOf(context)
      return Metric.update(
        labelled(metric, correlationId === undefined ? attributes : { ...attributes, correlation_id: correlationId }),
        by
      )
    })
    : Metric.update(labelled(metric, attributes), by)

/**
 * Records a duration in ms in a histogram, and the observation as its bucket's exemplar (with the current span's
 * trace ID and the region's correlation ID, when there are any).
 */
export const observeMs = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>, ms: number) => {
  const entry = labelledEntry(metric, attributes)
  return Effect.andThen(Metric.update(entry.metric, ms), recordExemplar(metric, attributes, ms, entry))
}
