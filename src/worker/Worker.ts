/**
 * A worker: hosts the handlers of some templates and runs their steps.
 *
 * For each namespace it hosts, a consumer reads `worker_<namespace>_queue` whenever it has free slots (at most
 * `workerConcurrency` steps run at once per worker), woken by NOTIFY (or a local signal) and by the polling
 * fallback. Reading claims the steps in the same transaction (`tasker_claim_step_messages`). Each claimed step
 * runs in its own fiber: the handler runs under the step's timeout while the message's visibility timeout is kept
 * extended; then the result is stored, the message deleted and the orchestrator notified, in one transaction
 * (`tasker_submit_step_result`). A crash before that leaves the message in the queue: it becomes visible again
 * after the visibility timeout and another worker re-runs the step (handlers run at least once).
 *
 * Shutdown (releasing the layer): consumers stop reading; running steps get `shutdownGraceMs` to finish; steps
 * still running then are interrupted and given back (`tasker_release_step`), so another worker picks them up at
 * once without using up an attempt.
 */
import { Context, Duration, Effect, Fiber, FiberSet, Layer, Schedule, Semaphore } from "effect"
import type { SqlError } from "effect/sql"
import type { ProcessorUuid } from "../domain/Ids.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { RESULTS_QUEUE, workerQueueName } from "../messaging/MessageQueue.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { EngineConfig } from "../orchestration/EngineConfig.ts"
import { EngineFunctions } from "../orchestration/EngineFunctions.ts"
import { supervised } from "../orchestration/OrchestrationLoop.ts"
import { TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import type { InvalidTemplate, StepDefinition, WorkflowDefinition } from "../workflow/Workflow.ts"
import { templateKey } from "../workflow/Workflow.ts"
import { type ClaimedStep, executeStep, toClaimedStep } from "./StepExecutor.ts"

/**
 * Whether a worker gives its running steps back when it is shut down (default true). Turned off, an interrupted
 * worker leaves its steps as a crashed process would: their messages come back after the visibility timeout and
 * another worker reclaims them (used to test crash recovery).
 */
export const ReleaseOnShutdown = Context.Reference<boolean>("tasker/worker/ReleaseOnShutdown", {
  defaultValue: () => true
})

export interface WorkerOptions<R> {
  /** the templates whose steps this worker runs (every step needs a handler) */
  readonly templates: ReadonlyArray<WorkflowDefinition<R>>
}

interface Hosted<R> {
  readonly template: WorkflowDefinition<R>
  readonly steps: ReadonlyMap<string, StepDefinition<R>>
}

/**
 * Registers the templates and runs their steps until the layer is released. `R` (what the handlers need) must be
 * provided to the layer, e.g. by the application's own service layers.
 */
export const WorkerLayer = <R>(options: WorkerOptions<R>): Layer.Layer<
  never,
  InvalidTemplate | SqlError.SqlError,
  R | TemplateRegistry | EngineFunctions | Wakeups | CurrentProcessor
> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const registry = yield* TemplateRegistry
    const engine = yield* EngineFunctions
    const wakeups = yield* Wakeups
    const processor = yield* CurrentProcessor
    const config = yield* EngineConfig
    const handlerContext = yield* Effect.context<R>()

    const hosted = new Map<string, Hosted<R>>()
    for (const template of options.templates) {
      yield* registry.register(template, { requireHandlers: true })
      hosted.set(templateKey(template), {
        template,
        steps: new Map(template.steps.map((s) => [s.name, s]))
      })
    }
    const namespaces = [...new Set(options.templates.map((t) => t.namespace))]

    const slots = yield* Semaphore.make(config.workerConcurrency)
    const running = yield* FiberSet.make<void, never>()
    const consumers = yield* FiberSet.make<never, unknown>()
    const vt = config.visibilityTimeoutSeconds
    const releaseOnShutdown = yield* ReleaseOnShutdown

    const runStep = (queue: string, claimed: ClaimedStep) => {
      const entry = hosted.get(templateKey({ namespace: claimed.namespace, name: claimed.taskName, version: claimed.taskVersion }))
      const keepVisible = engine.setVisibilityTimeout(queue, claimed.msgId, vt).pipe(
        Effect.ignore,
        Effect.repeat(Schedule.spaced(Duration.seconds(vt / 2))),
        Effect.delay(Duration.seconds(vt / 2))
      )
      const step = entry?.steps.get(claimed.stepName)
      if (step?.handler === undefined && claimed.readCount < config.maxReadCount) {
        // another worker may host this template (a rolling deploy adding a version): give the step back for a
        // while before failing it with HANDLER_NOT_FOUND
        return Effect.logWarning(`no handler for ${claimed.namespace}/${claimed.taskName}@${claimed.taskVersion} ${claimed.stepName}; giving the step back`).pipe(
          Effect.andThen(engine.releaseStep({
            queue,
            msgId: claimed.msgId,
            stepUuid: claimed.stepUuid,
            attempts: claimed.attempt,
            processorUuid: processor.processorUuid,
            delaySeconds: Math.min(5, vt)
          })),
          Effect.ignore,
          Effect.ensuring(slots.release(1))
        )
      }
      return Effect.gen(function*() {
        const keeper = yield* Effect.forkChild(keepVisible)
        const outcome = yield* executeStep(claimed, entry?.template, step, processor.processorUuid).pipe(
          Effect.provideContext(handlerContext)
        )
        yield* Fiber.interrupt(keeper)
        const submitted = yield* engine.submitStepResult({
          queue,
          msgId: claimed.msgId,
          stepUuid: claimed.stepUuid,
          attempts: claimed.attempt,
          success: outcome.success,
          results: outcome.envelope,
          processorUuid: processor.processorUuid,
          headers: claimed.headers,
          processInline: config.inlineResultProcessing,
          maxBackoffSeconds: config.maxBackoffSeconds,
          jitter: config.backoffJitter
        }).pipe(
          Effect.retry(Schedule.exponential("50 millis").pipe(Schedule.upTo({ duration: "10 seconds" })))
        )
        if (submitted.outcome === "submitted") {
          yield* wakeups.signal(RESULTS_QUEUE)
        } else if (submitted.outcome === "processed") {
          // the next steps were enqueued on this namespace's queue: wake our own consumer without the NOTIFY hop
          if (submitted.task_state === "steps_in_process") yield* wakeups.signal(queue)
        } else {
          yield* Effect.logInfo(`step result not recorded: ${submitted.outcome}`, { step_state: submitted.step_state })
        }
      }).pipe(
        Effect.onInterrupt(() =>
          releaseOnShutdown === false ? Effect.void : engine.releaseStep({
            queue,
            msgId: claimed.msgId,
            stepUuid: claimed.stepUuid,
            attempts: claimed.attempt,
            processorUuid: processor.processorUuid
          }).pipe(Effect.ignore)
        ),
        Effect.catchCause((cause) => Effect.logError("step execution failed; the message will be redelivered", cause)),
        Effect.ensuring(slots.release(1)),
        Effect.annotateLogs({ step_uuid: claimed.stepUuid, task_uuid: claimed.taskUuid, step_name: claimed.stepName }),
        Effect.withSpan("Worker.runStep", { attributes: { step_name: claimed.stepName, attempt: claimed.attempt } })
      )
    }

    const consume = (namespace: string) =>
      Effect.gen(function*() {
        const queue = workerQueueName(namespace)
        const wake = yield* wakeups.subscribe(queue)
        const loop = Effect.gen(function*() {
          yield* slots.take(1)
          let free = 1
          while (free < config.workerConcurrency && (yield* slots.takeIfAvailable(1))) free++
          const rows = yield* engine.claimStepMessages({
            queue,
            processorUuid: processor.processorUuid,
            limit: free,
            visibilityTimeoutSeconds: vt,
            maxReadCount: config.maxReadCount
          }).pipe(Effect.onError(() => slots.release(free)))
          let claimed = 0
          for (const row of rows) {
            if (row.outcome === "claimed") {
              claimed++
              yield* FiberSet.run(running, runStep(queue, toClaimedStep(row)))
            } else {
              yield* Effect.logWarning(`step message ${row.outcome}: ${row.reason}`, { msg_id: String(row.msg_id) })
              if (row.outcome === "abandoned") yield* wakeups.signal(RESULTS_QUEUE)
            }
          }
          if (claimed < free) yield* slots.release(free - claimed)
          if (rows.length < free) yield* wake.await
        })
        return yield* supervised(`worker.${namespace}`, loop)
      }).pipe(Effect.scoped)

    for (const namespace of namespaces) {
      yield* FiberSet.run(consumers, consume(namespace))
    }

    // shutdown: stop reading, let running steps finish within the grace period, give back the rest
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* FiberSet.clear(consumers)
        yield* FiberSet.awaitEmpty(running).pipe(Effect.timeoutOption(Duration.millis(config.shutdownGraceMs)))
        yield* FiberSet.clear(running)
      })
    )
    yield* Effect.logInfo(`worker hosting ${namespaces.join(", ")}`, { processor_uuid: processor.processorUuid as ProcessorUuid })
  }))
