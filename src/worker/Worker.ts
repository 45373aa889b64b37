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
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Layer,
  Metric,
  Option,
  Predicate,
  Schedule,
  type Schema,
  Semaphore,
  type Tracer
} from "effect"
import type { SqlError } from "effect/sql"
import type { NamedTaskUuid, ProcessorUuid } from "../domain/Ids.ts"
import { CurrentProcessor, TemplateHosting } from "../db/Processors.ts"
import { ReadinessFunctions } from "../db/SqlFunctions.ts"
import { RESULTS_QUEUE, workerQueueName } from "../messaging/Channels.ts"
import { LocalHandoff } from "../messaging/LocalHandoff.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { EngineConfig } from "../config/EngineConfig.ts"
import { EngineFunctions, type SubmitOutcome } from "../db/EngineFunctions.ts"
import { batchLoop } from "../internal/Batching.ts"
import { supervised } from "../internal/Supervised.ts"
import { withCorrelation } from "../telemetry/Correlation.ts"
import { recordResultApplied } from "../telemetry/EngineMetrics.ts"
import * as Metrics from "../telemetry/Metrics.ts"
import { continueTrace, currentTraceHeaders } from "../telemetry/TraceContext.ts"
import { StepError } from "../workflow/StepError.ts"
import { TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import type { InvalidTemplate, StepDefinition, WorkflowDefinition } from "../workflow/Workflow.ts"
import { templateKey } from "../workflow/Workflow.ts"
import { type ClaimedStep, executeStep, type StepOutcome, toClaimedStep } from "./StepExecutor.ts"

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

/** Whether a step's slot went to the first child its result handed to this worker (which then releases it). */
interface SlotTicket {
  handedOver: boolean
}

/** A result waiting for its batch (`resultBatcher`). */
interface PendingResult {
  readonly claimed: ClaimedStep
  readonly outcome: StepOutcome
  readonly headers: Schema.Json
  readonly ticket: SlotTicket
  /** the submitting step's span, linked from the batch's */
  readonly span: Tracer.AnySpan | undefined
  readonly done: Deferred.Deferred<SubmitOutcome, SqlError.SqlError>
}

/**
 * Result batches one worker queue has in flight at once. Two let the worker run the steps handed back by one batch
 * while the database applies the next (measured: 2 000 linear-4 tasks at once, 30 slots, 175 → 200 workflows/s);
 * the two lock their tasks in the same order, as two workers' batches do.
 */
const SUBMISSIONS_IN_FLIGHT = 2

/**
 * The worker's spans capture no stack trace: one per span and step is a captured Error on the hot path, and it
 * would always point into this module.
 */
export const noStackTrace = { captureStackTrace: false } as const

interface Hosted<R> {
  readonly template: WorkflowDefinition<R>
  readonly steps: ReadonlyMap<string, StepDefinition<R>>
}

/**
 * Registers the templates, records that this process hosts them (`TemplateHosting`) and runs their steps until the
 * layer is released. `R` (what the handlers need) must be provided to the layer, e.g. by the application's own
 * service layers.
 */
export const WorkerLayer = <R>(options: WorkerOptions<R>): Layer.Layer<
  never,
  InvalidTemplate | SqlError.SqlError,
  | R
  | TemplateRegistry
  | EngineFunctions
  | ReadinessFunctions
  | Wakeups
  | CurrentProcessor
  | TemplateHosting
  | LocalHandoff
> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const registry = yield* TemplateRegistry
    const engine = yield* EngineFunctions
    const readiness = yield* ReadinessFunctions
    const wakeups = yield* Wakeups
    const processor = yield* CurrentProcessor
    const hosting = yield* TemplateHosting
    const handoff = yield* LocalHandoff
    const config = yield* EngineConfig
    const handlerContext = yield* Effect.context<R>()

    const hosted = new Map<string, Hosted<R>>()
    const registered: Array<NamedTaskUuid> = []
    for (const template of options.templates) {
      registered.push((yield* registry.register(template, { requireHandlers: true })).namedTaskUuid)
      hosted.set(templateKey(template), {
        template,
        steps: new Map(template.steps.map((s) => [s.name, s]))
      })
    }
    // what this process hosts, for task creation anywhere to see that a live worker hosts these templates
    yield* hosting.host(registered)
    const namespaces = [...new Set(options.templates.map((t) => t.namespace))]

    const slots = yield* Semaphore.make(config.workerConcurrency)
    const running = yield* FiberSet.make<void, never>()
    const consumers = yield* FiberSet.make<never, unknown>()
    const vt = config.visibilityTimeoutSeconds
    // (built once: a Duration or Schedule made per step parses its input every time)
    const halfVisibilityTimeout = Duration.seconds(vt / 2)
    const keepVisibleEvery = Schedule.spaced(halfVisibilityTimeout)
    /** a submission that fails (the database restarting, say) is retried for up to 10 s */
    const submitRetry = Schedule.exponential(Duration.millis(50)).pipe(Schedule.upTo({ duration: Duration.seconds(10) }))
    const releaseOnShutdown = yield* ReleaseOnShutdown
    /** set when the worker shuts down: it claims nothing new, not even the children of its results */
    let stopping = false
    /** each queue's result submission (`resultBatcher`) */
    const submitters = new Map<
      string,
      (result: Omit<PendingResult, "done" | "span">) => Effect.Effect<SubmitOutcome, SqlError.SqlError>
    >()
    const active = new Map<string, number>()
    /** steps running on this worker now, every namespace (the sum of `active`) */
    let runningSteps = 0
    /** `tasker.steps.active_executions`: steps running on this worker, per namespace */
    const trackActive = (namespace: string, delta: number) =>
      Effect.suspend(() => {
        const count = (active.get(namespace) ?? 0) + delta
        active.set(namespace, count)
        runningSteps += delta
        return Metric.update(Metrics.labelled(Metrics.stepsActiveExecutions, { namespace }), count)
      })

    /**
     * Every ancestor's result of a claimed step, by step name (a handler asked for one that is not a parent). Built
     * when run: most handlers never ask, and the query's span would capture a stack trace for every step.
     */
    const ancestorsOf = (claimed: ClaimedStep) =>
      Effect.suspend(() => readiness.stepTransitiveDependencies(claimed.stepUuid)).pipe(
        Effect.map((rows) => {
          const results: Record<string, Schema.Json> = {}
          for (const row of rows) {
            if (row.processed && row.results !== null && Predicate.isObject(row.results) && "result" in row.results) {
              results[row.step_name] = (row.results as { readonly result: Schema.Json }).result
            }
          }
          return results
        }),
        Effect.mapError((error) =>
          StepError.retryable(`could not read the results of the step's ancestors: ${error.message}`, {
            code: "MISSING_DEPENDENCY",
            errorType: "DependencyError"
          })
        )
      )

    /** The step's region: its correlation, its trace (continued from the message) and its log annotations. */
    const inStepRegion = (claimed: ClaimedStep) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      self.pipe(
        Effect.annotateLogs({ task_uuid: claimed.taskUuid, step_uuid: claimed.stepUuid, namespace: claimed.namespace, step_name: claimed.stepName }),
        Effect.withSpan("Worker.runStep", {
          attributes: {
            task_uuid: claimed.taskUuid,
            step_uuid: claimed.stepUuid,
            namespace: claimed.namespace,
            step_name: claimed.stepName,
            attempt: claimed.attempt
          }
        }, noStackTrace),
        continueTrace(claimed.headers),
        withCorrelation({ correlationId: claimed.correlationId, parentCorrelationId: claimed.parentCorrelationId })
      )

    /**
     * Gives a claimed step back unrun (`tasker_release_step`: enqueued again, its attempt not used up), its message
     * visible again after `delaySeconds` (default at once). A failure is ignored: the message comes back after its
     * visibility timeout anyway.
     */
    const giveBack = (queue: string, claimed: ClaimedStep, delaySeconds?: number) =>
      engine.releaseStep({
        queue,
        msgId: claimed.msgId,
        claimId: claimed.claimId,
        stepUuid: claimed.stepUuid,
        attempts: claimed.attempt,
        processorUuid: processor.processorUuid,
        ...(delaySeconds === undefined ? {} : { delaySeconds })
      }).pipe(Effect.ignore)

    /**
     * Runs one claimed step in the slot its claim took, then submits its result (`resultBatcher`); children the
     * result made ready and this worker claimed start at once, the first one in this step's slot.
     */
    const runStep = (queue: string, claimed: ClaimedStep): Effect.Effect<void> => {
      const entry = hosted.get(templateKey({ namespace: claimed.namespace, name: claimed.taskName, version: claimed.taskVersion }))
      // (the extension is built when it first runs, half a visibility timeout in: most steps end before)
      const keepVisible = Effect.suspend(() => engine.extendClaim(queue, claimed.msgId, claimed.claimId, vt)).pipe(
        Effect.ignore,
        Effect.repeat(keepVisibleEvery),
        Effect.delay(halfVisibilityTimeout)
      )
      const step = entry?.steps.get(claimed.stepName)
      if (step?.handler === undefined && claimed.readCount < config.maxReadCount) {
        // another worker may host this template (a rolling deploy adding a version): give the step back for a
        // while before failing it with HANDLER_NOT_FOUND
        return Effect.logWarning(`no handler for ${claimed.namespace}/${claimed.taskName}@${claimed.taskVersion} ${claimed.stepName}; giving the step back`).pipe(
          Effect.andThen(giveBack(queue, claimed, Math.min(5, vt))),
          Effect.ensuring(slots.release(1)),
          inStepRegion(claimed)
        )
      }
      const labels = { namespace: claimed.namespace, step_name: claimed.stepName }
      // whether this step's slot went to a handed-off child (which then releases it)
      const ticket: SlotTicket = { handedOver: false }
      return Effect.gen(function*() {
        yield* Metrics.increment(Metrics.stepExecutions, { ...labels, handler_type: step?.handler?.kind ?? "none" })
        yield* trackActive(claimed.namespace, 1)
        const keeper = yield* Effect.forkChild(keepVisible)
        // executeStep runs the handler in its `StepHandler <step name>` span
        const outcome = yield* executeStep(claimed, entry?.template, step, processor.processorUuid, ancestorsOf(claimed))
          .pipe(
          Effect.provideContext(handlerContext)
        )
        yield* Fiber.interrupt(keeper)
        yield* Metrics.observeMs(Metrics.stepExecutionDuration, {
          namespace: claimed.namespace,
          result: outcome.success ? "success" : "failure"
        }, outcome.durationMs)
        if (outcome.success) {
          yield* Metrics.increment(Metrics.stepSuccesses, labels)
        } else {
          yield* Metrics.increment(Metrics.stepFailures, {
            ...labels,
            error_type: outcome.error?.errorType ?? "StepError",
            retryable: String(outcome.error?.retryable ?? false)
          })
          yield* Effect.logWarning("Step failed", {
            step_uuid: claimed.stepUuid,
            error: outcome.error?.message,
            error_type: outcome.error?.errorType,
            retryable: outcome.error?.retryable,
            attempt: claimed.attempt
          })
        }
        const submitStarted = performance.now()
        // submitted with the results of the other steps that finish meanwhile, in one transaction (resultBatcher)
        const submitted = yield* submitters.get(queue)!({
          claimed,
          outcome,
          // the next steps' messages carry this span, so the trace continues on whichever worker runs them
          headers: yield* currentTraceHeaders,
          ticket
        }).pipe(Effect.withSpan("Worker.submitResult", { attributes: { step_uuid: claimed.stepUuid } }, noStackTrace))
        const submitMs = performance.now() - submitStarted
        yield* Metrics.observeMs(Metrics.stepResultSubmissionDuration, { result_type: submitted.outcome }, submitMs)
        yield* Metrics.increment(Metrics.resultsSubmitted, { result_type: submitted.outcome })
        if (submitted.outcome === "submitted") {
          yield* Metrics.increment(Metrics.messagesSent, { queue: RESULTS_QUEUE, message_type: "SimpleStepMessage" })
          yield* wakeups.signal(RESULTS_QUEUE)
        } else if (submitted.outcome === "processed") {
          yield* recordResultApplied({
            namespace: claimed.namespace,
            stepQueue: queue,
            taskType: claimed.taskName,
            resultOutcome: submitted.result_outcome,
            taskState: submitted.task_state,
            enqueued: submitted.enqueued_count,
            durationMs: submitMs
          })
          // steps were enqueued on this namespace's queue: wake our own consumer (the NOTIFY, marked as ours, is
          // skipped when it comes back)
          if (submitted.enqueued_count > submitted.claims.length) yield* wakeups.signal(queue)
        } else {
          yield* Effect.logInfo(`Step result not recorded: ${submitted.outcome}`, { step_state: submitted.step_state })
        }
      }).pipe(
        Effect.onInterrupt(() =>
          releaseOnShutdown === false ? Effect.void : giveBack(queue, claimed)
        ),
        Effect.catchCause((cause) => Effect.logError("Step execution failed; the message will be redelivered", cause)),
        Effect.ensuring(Effect.suspend(() =>
          Effect.andThen(ticket.handedOver ? Effect.void : slots.release(1), trackActive(claimed.namespace, -1))
        )),
        inStepRegion(claimed)
      )
    }

    /**
     * Result submission, one batcher per queue: a result goes out at once when fewer than `SUBMISSIONS_IN_FLIGHT`
     * submissions are in flight, and the results that finish meanwhile go together in the next transaction
     * (`tasker_submit_step_results`, at most `resultBatchSize`), so a step alone never waits and a busy worker commits
     * many results at a time, its steps running while the database applies the previous batch. Children
     * the results made ready are claimed for this worker in the same transaction, as many as it has slots for (each
     * successful step's own, and the free ones taken before submitting): the batcher starts them at once, each in a
     * fiber and a slot of its own (a result's first child inherits its step's slot, which the ticket records).
     */
    const resultBatcher = (queue: string) =>
      Effect.gen(function*() {
        let pending: Array<PendingResult> = []
        const flush = (batch: ReadonlyArray<PendingResult>) => Effect.gen(function*() {
          // a worker shutting down takes nothing new: the children go to the queue
          const handoff = config.inlineResultProcessing && !stopping
          const successes = handoff ? batch.filter((r) => r.outcome.success).length : 0
          let extra = 0
          while (successes > 0 && extra < config.workerConcurrency - 1 && (yield* slots.takeIfAvailable(1))) extra++
          const exit = yield* engine.submitStepResults({
            queue,
            processorUuid: processor.processorUuid,
            results: batch.map((r) => ({
              msgId: r.claimed.msgId,
              claimId: r.claimed.claimId,
              stepUuid: r.claimed.stepUuid,
              taskUuid: r.claimed.taskUuid,
              attempts: r.claimed.attempt,
              success: r.outcome.success,
              results: r.outcome.envelope,
              headers: r.headers
            })),
            processInline: config.inlineResultProcessing,
            maxBackoffSeconds: config.maxBackoffSeconds,
            jitter: config.backoffJitter,
            handoff,
            extraSlots: extra,
            visibilityTimeoutSeconds: vt
          }).pipe(
            Effect.retry(submitRetry),
            Effect.withSpan("Worker.submitResults", {
              root: true,
              links: batch.flatMap((r) => r.span === undefined ? [] : [{ span: r.span, attributes: {} }])
            }, noStackTrace),
            Effect.exit
          )
          if (Exit.isFailure(exit)) {
            if (extra > 0) yield* slots.release(extra)
            yield* Effect.forEach(batch, (r) => Deferred.failCause(r.done, exit.cause), { discard: true })
            return
          }
          let used = 0
          for (let i = 0; i < batch.length; i++) {
            const result = batch[i]!
            const submitted = exit.value[i]!
            if (submitted.claims.length > 0) result.ticket.handedOver = true
            used += Math.max(submitted.claims.length - 1, 0)
            // waiters of the task in this process learn at once if it finished in this commit, with its row (before
            // the step's own bookkeeping: a waiter is someone's latency)
            if (submitted.outcome === "processed" && submitted.task_state !== null) {
              yield* wakeups.publishTaskEvent({
                taskUuid: result.claimed.taskUuid,
                state: submitted.task_state,
                task: submitted.task
              })
            }
            for (const child of submitted.claims) {
              yield* Metrics.increment(Metrics.stepsClaimed, { namespace: result.claimed.namespace, claim_method: "handoff" }).pipe(
                withCorrelation({ correlationId: child.correlation_id!, parentCorrelationId: child.parent_correlation_id })
              )
              yield* FiberSet.run(running, runStep(queue, toClaimedStep(child)))
            }
            yield* Deferred.succeed(result.done, submitted)
          }
          if (extra > used) yield* slots.release(extra - used)
        })
        const signal = yield* batchLoop({
          inFlight: SUBMISSIONS_IN_FLIGHT,
          cut: () => {
            if (pending.length === 0) return undefined
            const batch = pending.slice(0, config.resultBatchSize)
            pending = pending.slice(batch.length)
            return batch
          },
          flush
        })
        return (result: Omit<PendingResult, "done" | "span">) =>
          Effect.gen(function*() {
            const done = yield* Deferred.make<SubmitOutcome, SqlError.SqlError>()
            const span = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
            pending.push({ ...result, done, span })
            yield* signal
            return yield* Deferred.await(done)
          })
      })

    const consume = (namespace: string) =>
      Effect.gen(function*() {
        const queue = workerQueueName(namespace)
        const wake = yield* wakeups.subscribe(queue)
        // how the consumer last woke up: by a notification or signal ("event"), or by the poll interval ("poll")
        let claimMethod = "event"
        const loop = Effect.gen(function*() {
          yield* slots.take(1)
          let free = 1
          while (free < config.workerConcurrency && (yield* slots.takeIfAvailable(1))) free++
          yield* wake.reset
          // Claiming and handing the claimed steps to `running` is one uninterruptible step. Interrupted (by
          // shutdown) in between, a claim may still commit (the driver lets a statement finish for a moment before
          // cancelling it) while its rows are dropped: those steps would stay in_progress with no fiber to run or
          // give them back until their visibility timeout, and the reclaim would use up an attempt (or fail the
          // step as WorkerLost on its last one). The step fibers themselves are forked interruptible.
          const read = yield* Effect.uninterruptible(Effect.gen(function*() {
            const claimStarted = performance.now()
            const rows = yield* engine.claimStepMessages({
              queue,
              processorUuid: processor.processorUuid,
              limit: free,
              visibilityTimeoutSeconds: vt
            }).pipe(Effect.onError(() => slots.release(free)))
            const claimMs = performance.now() - claimStarted
            yield* Metrics.observeMs(Metrics.messageReceiveDuration, { queue }, claimMs)
            let claimed = 0
            const now = Date.now()
            for (const row of rows) {
              const received = Effect.all([
                Metrics.increment(Metrics.messagesReceived, { queue, message_type: "SimpleStepMessage" }),
                Metrics.observeMs(Metrics.messageLatency, { queue, message_type: "SimpleStepMessage" }, now - row.enqueued_at.getTime())
              ], { discard: true })
              if (row.outcome === "claimed") {
                claimed++
                yield* Effect.all([
                  received,
                  Metrics.increment(Metrics.stepsClaimed, { namespace, claim_method: claimMethod }),
                  Metrics.observeMs(Metrics.stepClaimDuration, { namespace, claim_method: claimMethod }, claimMs)
                ], { discard: true }).pipe(
                  withCorrelation({ correlationId: row.correlation_id!, parentCorrelationId: row.parent_correlation_id })
                )
                yield* FiberSet.run(running, runStep(queue, toClaimedStep(row)))
              } else {
                yield* received
                yield* Effect.logWarning(`Step message ${row.outcome}`).pipe(
                  Effect.annotateLogs({ msg_id: String(row.msg_id), reason: row.reason ?? "" })
                )
                if (row.outcome !== "abandoned") yield* Metrics.increment(Metrics.messagesArchived, { queue, reason: row.outcome })
                if (row.outcome === "abandoned") yield* wakeups.signal(RESULTS_QUEUE)
              }
            }
            if (claimed < free) yield* slots.release(free - claimed)
            return rows.length
          }))
          if (read < free) claimMethod = (yield* wake.await) ? "event" : "poll"
        })
        return yield* supervised(`worker.${namespace}`, loop)
      }).pipe(Effect.scoped)

    for (const namespace of namespaces) {
      submitters.set(workerQueueName(namespace), yield* resultBatcher(workerQueueName(namespace)))
    }
    for (const namespace of namespaces) {
      yield* FiberSet.run(consumers, consume(namespace))
    }

    // The root steps of tasks created in this process, claimed for this worker by their creation (LocalHandoff). How
    // many a creation may claim: the slots neither running a step nor promised to another creation (a consumer's
    // look holds the free slots only for its round trip: a root that finds them held waits for one, briefly).
    let promised = 0
    const slotWait = Duration.seconds(1)
    const adoptOne = (queue: string, claimed: ClaimedStep) =>
      Effect.gen(function*() {
        yield* Metrics.increment(Metrics.stepsClaimed, { namespace: claimed.namespace, claim_method: "handoff" }).pipe(
          withCorrelation({ correlationId: claimed.correlationId, parentCorrelationId: claimed.parentCorrelationId })
        )
        if (yield* slots.takeIfAvailable(1)) return yield* FiberSet.run(running, runStep(queue, claimed))
        yield* FiberSet.run(
          running,
          Effect.gen(function*() {
            const slot = yield* Effect.timeoutOption(slots.take(1), slotWait)
            if (Option.isSome(slot)) return yield* runStep(queue, claimed)
            // still no slot: back to the queue for any worker, the attempt not used up
            yield* giveBack(queue, claimed)
            yield* wakeups.signal(queue)
          })
        )
      })
    yield* handoff.register({
      visibilityTimeoutSeconds: vt,
      reserve: (queue, template, max) =>
        Effect.sync(() => {
          if (stopping || !submitters.has(queue) || !hosted.has(template)) return 0
          const reserved = Math.max(0, Math.min(max, config.workerConcurrency - runningSteps - promised))
          promised += reserved
          return reserved
        }),
      adopt: (queue, claims, reserved) =>
        Effect.suspend(() => {
          promised -= reserved
          return Effect.forEach(claims, (claim) => adoptOne(queue, toClaimedStep(claim)), { discard: true })
        }),
      release: (reserved) =>
        Effect.sync(() => {
          promised -= reserved
        })
    })

    // shutdown: stop reading (and taking children), let running steps finish within the grace period, give back
    // the rest
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        yield* FiberSet.clear(consumers)
        const inFlight = yield* FiberSet.size(running)
        yield* Effect.logInfo(
          `worker shutting down: stopped reading; waiting up to ${config.shutdownGraceMs} ms for ${inFlight} running step(s)`
        )
        const finished = yield* FiberSet.awaitEmpty(running).pipe(
          Effect.timeoutOption(Duration.millis(config.shutdownGraceMs))
        )
        if (Option.isNone(finished)) {
          const left = yield* FiberSet.size(running)
          yield* Effect.logWarning(`worker shutdown grace period over: giving ${left} running step(s) back`)
        }
        yield* FiberSet.clear(running)
      })
    )
    yield* Effect.logInfo(`worker hosting ${namespaces.join(", ")}`, { processor_uuid: processor.processorUuid as ProcessorUuid })
  }))
