/**
 * The orchestrator: background loops that move tasks forward.
 *
 * - **results**: applies step results from `orchestration_step_results_queue` in batches, woken by NOTIFY (or a
 *   local signal) and by the polling fallback; each result completes, retries or fails its step and evaluates the
 *   task in the same transaction.
 * - **readiness**: claims tasks that need an orchestrator (`get_next_ready_tasks`: new tasks, waiting tasks whose
 *   retry time came or whose dependencies are met, tasks left by a processor that is gone) and evaluates each in
 *   its task's region (correlation and trace, `inTaskRegion`). It sleeps until the next retry is due
 *   (`tasker_next_retry_at`), a readiness signal, or the poll interval.
 * - **give-up** (when `giveUpBlockedAfterSeconds` is set): ends tasks blocked longer than that in `error`.
 *
 * Any number of orchestrator processes may run against one database: result messages are read with
 * `FOR UPDATE SKIP LOCKED`, tasks are claimed, and every transition is a compare-and-set. A loop that fails (the
 * database restarting, say) logs, waits and starts again.
 */
import { Config, Duration, Effect, Layer } from "effect"
import { EngineConfig } from "../config/EngineConfig.ts"
import { EngineFunctions } from "../db/EngineFunctions.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { DiscoveryFunctions } from "../db/SqlFunctions.ts"
import { supervised } from "../internal/Supervised.ts"
import { READINESS_SIGNAL, RESULTS_QUEUE, workerQueueName } from "../messaging/Channels.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { recordEnqueued, recordTaskOutcome } from "../telemetry/EngineMetrics.ts"
import { ResultProcessor } from "./ResultProcessor.ts"
import { inTaskRegion, TaskEvaluator } from "./TaskEvaluator.ts"

/**
 * **Test-only fault injection, off by default.** When `TASKER_FAULT_PAUSE_AFTER_READY_CLAIM_MS` is set to a positive
 * number, the readiness loop logs `fault injection: pausing after claiming tasks` and sleeps that long right after
 * `get_next_ready_tasks` claimed tasks and before it evaluates them, so a crash test can kill the process while it
 * owns them (test/reliability). Never set it in production: a paused orchestrator holds its claimed tasks until
 * it wakes up or its heartbeat goes stale.
 */
export const FAULT_PAUSE_AFTER_READY_CLAIM = "TASKER_FAULT_PAUSE_AFTER_READY_CLAIM_MS"

export const OrchestrationLoopLayer = Layer.effectDiscard(
  Effect.gen(function*() {
    const results = yield* ResultProcessor
    const discovery = yield* DiscoveryFunctions
    const evaluator = yield* TaskEvaluator
    const engine = yield* EngineFunctions
    const wakeups = yield* Wakeups
    const processor = yield* CurrentProcessor
    const config = yield* EngineConfig
    const faultPauseMs = yield* Config.Int(FAULT_PAUSE_AFTER_READY_CLAIM).pipe(Config.withDefault(0))

    const resultWakeups = yield* wakeups.subscribe(RESULTS_QUEUE)
    const readinessWakeups = yield* wakeups.subscribe(READINESS_SIGNAL)

    const resultsLoop = Effect.gen(function*() {
      yield* resultWakeups.reset
      const rows = yield* results.processBatch
      if (rows.length < config.resultBatchSize) yield* resultWakeups.await
    })

    const readinessLoop = Effect.gen(function*() {
      yield* readinessWakeups.reset
      const claimed = yield* discovery.nextReadyTasks({
        limit: config.readyTaskBatchSize,
        processorUuid: processor.processorUuid,
        staleAfterSeconds: config.staleAfterSeconds
      })
      if (faultPauseMs > 0 && claimed.length > 0) {
        yield* Effect.logWarning("fault injection: pausing after claiming tasks", {
          pause_ms: faultPauseMs,
          task_uuids: claimed.map((t) => t.task_uuid)
        })
        yield* Effect.sleep(Duration.millis(faultPauseMs))
      }
      // each task is evaluated in its own region: its correlation and its trace
      const regions = yield* evaluator.regions(claimed.map((t) => t.task_uuid))
      yield* Effect.forEach(claimed, (task) => {
        const evaluation = Effect.gen(function*() {
          const row = yield* evaluator.evaluate(task.task_uuid)
          if (row === undefined) return
          yield* recordEnqueued(task.namespace_name, workerQueueName(task.namespace_name), row.enqueued_step_uuids.length)
          yield* recordTaskOutcome(row.task_state, { namespace: task.namespace_name, task_type: task.task_name })
          // this process's worker and waiters learn at once of the steps enqueued and a task that finished (the
          // NOTIFY, marked as ours, is skipped when it comes back)
          if (row.enqueued_step_uuids.length > 0) yield* wakeups.signal(workerQueueName(task.namespace_name))
          yield* wakeups.publishTaskEvent({ taskUuid: task.task_uuid, state: row.task_state })
        })
        const region = regions.get(task.task_uuid)
        return region === undefined
          ? evaluation.pipe(Effect.annotateLogs({ task_uuid: task.task_uuid }))
          : evaluation.pipe(inTaskRegion(region))
      }, { discard: true })
      if (claimed.length >= config.readyTaskBatchSize) return
      const nextRetry = yield* engine.nextRetryAt
      // a retry that is due but could not be claimed (its task is busy) is looked at again shortly
      const untilRetry = nextRetry === null ? config.pollIntervalMs : Math.max(nextRetry.getTime() - Date.now() + 1, 50)
      yield* Effect.raceFirst(
        readinessWakeups.await,
        Effect.sleep(Duration.millis(Math.min(untilRetry, config.pollIntervalMs)))
      )
    })

    yield* Effect.forkScoped(supervised("orchestration.results", resultsLoop))
    yield* Effect.forkScoped(supervised("orchestration.readiness", readinessLoop))

    const giveUpAfter = config.giveUpBlockedAfterSeconds
    if (giveUpAfter !== null) {
      const giveUpLoop = Effect.gen(function*() {
        const given = yield* engine.giveUpBlockedTasks(processor.processorUuid, giveUpAfter)
        if (given.length > 0) yield* Effect.logInfo(`gave up ${given.length} blocked task(s)`)
        yield* Effect.sleep(Duration.millis(Math.max(config.pollIntervalMs, 1000)))
      })
      yield* Effect.forkScoped(supervised("orchestration.give_up", giveUpLoop))
    }
  })
)
