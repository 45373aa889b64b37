/**
 * The engine's settings, as one `Context.Reference` with defaults; `engineConfigFromEnv` reads them from the
 * environment (every variable is optional).
 */
import { Config, Context, Effect, Schema } from "effect"

/**
 * How consumers learn about new messages: `hybrid` (LISTEN + polling fallback), `event_driven` (notifications
 * only), `polling` (no LISTEN connection).
 */
export const DeploymentMode = Schema.Literals(["hybrid", "event_driven", "polling"])
export type DeploymentMode = typeof DeploymentMode.Type

export interface EngineSettings {
  /** how consumers learn about new messages: `hybrid` (LISTEN + polling fallback), `event_driven`, `polling` */
  readonly deploymentMode: DeploymentMode
  /** polling fallback interval, and the longest the readiness loop sleeps (ms) */
  readonly pollIntervalMs: number
  /** how long a read message stays hidden before another consumer may read it (s); workers extend it while running */
  readonly visibilityTimeoutSeconds: number
  /**
   * a result message read more often than this goes to the dead-letter archive; a worker without a step's handler
   * gives the step back until its message has been read this often (step messages are otherwise limited by the
   * step's attempts, not by reads)
   */
  readonly maxReadCount: number
  /** result messages processed per orchestrator round trip */
  readonly resultBatchSize: number
  /** tasks claimed per readiness round trip */
  readonly readyTaskBatchSize: number
  /** a processor whose heartbeat is older than this (s) is gone: its owned tasks may be taken over */
  readonly staleAfterSeconds: number
  readonly heartbeatIntervalMs: number
  /** cap on any retry delay, including a handler's retry-after hint (s) */
  readonly maxBackoffSeconds: number
  /** random extra delay added to retry backoffs, as a fraction of the backoff (0.1 = up to +10 %) */
  readonly backoffJitter: number
  /** tasks blocked by failures for longer than this (s) are given up (→ error); null keeps them for an operator */
  readonly giveUpBlockedAfterSeconds: number | null
  /**
   * workers apply a step's result in the transaction that records it (complete / retry / fail, evaluate the task,
   * enqueue what became ready) instead of handing it to an orchestrator through the results queue: one round trip
   * and one commit per step instead of three. Results that fail to apply inline still go to the orchestrators.
   */
  readonly inlineResultProcessing: boolean
  /**
   * steps one worker runs at once. Handlers are Effects that mostly wait (on HTTP, a database): 32 keeps the engine
   * busy while they do (measured: 2 000 linear-4 workflows at once, 10 → 32 slots, 130 → ~200 workflows/s); set it
   * lower for handlers that hold scarce resources
   */
  readonly workerConcurrency: number
  /** on shutdown, how long a worker waits for running steps before giving them back (ms) */
  readonly shutdownGraceMs: number
  /** how often the orchestrator samples the gauges (tasks by state, queue depths, connections) (ms) */
  readonly metricsSampleIntervalMs: number
  /**
   * how often finished tasks' metric series are dropped (ms): set it to the metric export interval, so each series
   * is exported at least once after its task finished
   */
  readonly metricsSweepIntervalMs: number
}

export const defaultEngineSettings: EngineSettings = {
  deploymentMode: "hybrid",
  pollIntervalMs: 1000,
  visibilityTimeoutSeconds: 30,
  maxReadCount: 5,
  resultBatchSize: 20,
  readyTaskBatchSize: 10,
  staleAfterSeconds: 60,
  heartbeatIntervalMs: 10_000,
  maxBackoffSeconds: 300,
  backoffJitter: 0,
  giveUpBlockedAfterSeconds: null,
  inlineResultProcessing: true,
  workerConcurrency: 32,
  shutdownGraceMs: 30_000,
  metricsSampleIntervalMs: 10_000,
  metricsSweepIntervalMs: 60_000
}

export const EngineConfig = Context.Reference<EngineSettings>("tasker/config/EngineConfig", {
  defaultValue: () => defaultEngineSettings
})

/**
 * Settings from the environment: TASKER_DEPLOYMENT_MODE, TASKER_POLL_INTERVAL_MS, TASKER_VISIBILITY_TIMEOUT_SECONDS,
 * TASKER_MAX_READ_COUNT, TASKER_RESULT_BATCH_SIZE, TASKER_READY_TASK_BATCH_SIZE, TASKER_STALE_AFTER_SECONDS,
 * TASKER_HEARTBEAT_INTERVAL_MS, TASKER_MAX_BACKOFF_SECONDS, TASKER_BACKOFF_JITTER,
 * TASKER_GIVE_UP_BLOCKED_AFTER_SECONDS, TASKER_INLINE_RESULT_PROCESSING, TASKER_WORKER_CONCURRENCY,
 * TASKER_SHUTDOWN_GRACE_MS, TASKER_METRICS_SAMPLE_INTERVAL_MS, OTEL_METRIC_EXPORT_INTERVAL (the series sweep).
 */
export const engineConfigFromEnv = Effect.gen(function*() {
  const d = defaultEngineSettings
  const int = (name: string, fallback: number) => Config.Int(name).pipe(Config.withDefault(fallback))
  const num = (name: string, fallback: number) => Config.Number(name).pipe(Config.withDefault(fallback))
  const settings: EngineSettings = {
    deploymentMode: yield* Config.schema(DeploymentMode, "TASKER_DEPLOYMENT_MODE").pipe(
      Config.withDefault(d.deploymentMode)
    ),
    pollIntervalMs: yield* int("TASKER_POLL_INTERVAL_MS", d.pollIntervalMs),
    visibilityTimeoutSeconds: yield* num("TASKER_VISIBILITY_TIMEOUT_SECONDS", d.visibilityTimeoutSeconds),
    maxReadCount: yield* int("TASKER_MAX_READ_COUNT", d.maxReadCount),
    resultBatchSize: yield* int("TASKER_RESULT_BATCH_SIZE", d.resultBatchSize),
    readyTaskBatchSize: yield* int("TASKER_READY_TASK_BATCH_SIZE", d.readyTaskBatchSize),
    staleAfterSeconds: yield* int("TASKER_STALE_AFTER_SECONDS", d.staleAfterSeconds),
    heartbeatIntervalMs: yield* int("TASKER_HEARTBEAT_INTERVAL_MS", d.heartbeatIntervalMs),
    maxBackoffSeconds: yield* num("TASKER_MAX_BACKOFF_SECONDS", d.maxBackoffSeconds),
    backoffJitter: yield* num("TASKER_BACKOFF_JITTER", d.backoffJitter),
    giveUpBlockedAfterSeconds: yield* Config.Number("TASKER_GIVE_UP_BLOCKED_AFTER_SECONDS").pipe(
      Config.option,
      Config.map((o) => (o._tag === "Some" ? o.value : null))
    ),
    inlineResultProcessing: yield* Config.Boolean("TASKER_INLINE_RESULT_PROCESSING").pipe(
      Config.withDefault(d.inlineResultProcessing)
    ),
    workerConcurrency: yield* int("TASKER_WORKER_CONCURRENCY", d.workerConcurrency),
    shutdownGraceMs: yield* int("TASKER_SHUTDOWN_GRACE_MS", d.shutdownGraceMs),
    metricsSampleIntervalMs: yield* int("TASKER_METRICS_SAMPLE_INTERVAL_MS", d.metricsSampleIntervalMs),
    metricsSweepIntervalMs: yield* int("OTEL_METRIC_EXPORT_INTERVAL", d.metricsSweepIntervalMs)
  }
  return settings
})
