/**
 * Operator actions on tasks and steps: cancel a task, resolve a step by hand (its result data feeds the steps
 * that depend on it), retry a failed step, give up a blocked task. After a step is retried or resolved its task is
 * evaluated in the same transaction (a blocked task is unblocked), so it moves on at once. Steps of a finished
 * task cannot be changed.
 *
 * With an `Actor` (the API passes the caller), each action records who did it — key id, client address, request
 * correlation — in the transition's metadata (`operator`) and in the audit trail, in the same transaction.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InvalidTransition, NotFound, type OwnershipConflict, type StaleState } from "../domain/Errors.ts"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { TransitionFunctions } from "../db/SqlFunctions.ts"
import type { StepState } from "../domain/StepStateMachine.ts"
import { isTerminalTaskState, type TaskState } from "../domain/TaskStateMachine.ts"
import { Transitions } from "../db/Transitions.ts"
import { EngineFunctions } from "../db/EngineFunctions.ts"
import { NOTIFY_CHANNEL, READINESS_SIGNAL } from "../messaging/Channels.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { type Actor, actorMetadata, insertAuditEvent } from "../db/AuditTrail.ts"

export interface StepResolution {
  /** the step's result as its dependents will see it */
  readonly resultData: Schema.Json
  readonly resolvedBy: string
  readonly reason: string
  /**
   * The states the step may be resolved from (checked under the step's row lock); default: any unfinished state.
   * The API passes `RESOLVABLE_STEP_STATES` unless an admin forces it.
   */
  readonly allowedFrom?: ReadonlyArray<StepState> | undefined
}

/** The states where resolving a step by hand means something: it failed, or waits for a retry after failing. */
export const RESOLVABLE_STEP_STATES: ReadonlyArray<StepState> = ["error", "waiting_for_retry"]

type OperationError = NotFound | InvalidTransition | StaleState | OwnershipConflict | SqlError.SqlError

export class TaskOperations extends Context.Service<TaskOperations, {
  /** Cancels the task and its unfinished steps; a finished task is an `InvalidTransition`. */
  readonly cancelTask: (
    taskUuid: TaskUuid,
    reason?: string,
    actor?: Actor
  ) => Effect.Effect<TaskState, NotFound | InvalidTransition | SqlError.SqlError>
  /** Marks a step `resolved_manually` with the given result and lets the task continue. */
  readonly resolveStep: (
    taskUuid: TaskUuid,
    stepUuid: StepUuid,
    resolution: StepResolution,
    actor?: Actor
  ) => Effect.Effect<StepState, OperationError>
  /** Retries a failed step (`error` → `pending`, with a fresh attempt budget) and lets the task continue. */
  readonly retryStep: (taskUuid: TaskUuid, stepUuid: StepUuid, actor?: Actor) => Effect.Effect<StepState, OperationError>
  /** Ends a task blocked by failures in `error`. */
  readonly giveUpTask: (taskUuid: TaskUuid, reason: string) => Effect.Effect<TaskState, OperationError>
}>()("tasker/tasks/TaskOperations") {
  static readonly layer = Layer.effect(
    TaskOperations,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const engine = yield* EngineFunctions
      const transitions = yield* Transitions
      const fns = yield* TransitionFunctions
      const processor = yield* CurrentProcessor
      const processorUuid = processor.processorUuid
      const wakeups = yield* Wakeups

      /** Waiters of the task in this process learn its new state once it is committed. */
      const announce = (taskUuid: TaskUuid, state: TaskState) =>
        sql.afterCommit(wakeups.publishTaskEvent({ taskUuid, state }))

      /** The step, checked to belong to the task. */
      const stepOfTask = (taskUuid: TaskUuid, stepUuid: StepUuid) =>
        Effect.gen(function*() {
          const rows = yield* sql<{ task_uuid: string }>`
            SELECT task_uuid FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
          if (rows.length === 0 || rows[0]!.task_uuid !== taskUuid) {
            return yield* new NotFound({ entity: "step", id: stepUuid })
          }
        })

      /** The task of a step, which must not have finished (a finished task's steps are frozen). */
      const openTask = (taskUuid: TaskUuid, event: string) =>
        Effect.gen(function*() {
          const state = yield* fns.currentTaskState(taskUuid)
          if (isTerminalTaskState(state)) {
            return yield* new InvalidTransition({ machine: "task", from: state, to: null, event })
          }
        })

      /** Evaluates the task at once so it moves on (see tasker_reevaluate_task). */
      const reevaluate = (taskUuid: TaskUuid, stepUuid: StepUuid, reason: string) =>
        sql`SELECT tasker_reevaluate_task(${taskUuid}::uuid, ${processorUuid}::uuid, ${reason}, ${stepUuid}::uuid)`.pipe(
          Effect.andThen(sql`SELECT pg_notify(${NOTIFY_CHANNEL}, ${READINESS_SIGNAL})`)
        )

      return TaskOperations.of({
        cancelTask: Effect.fn("TaskOperations.cancelTask")(function*(taskUuid: TaskUuid, reason?: string, actor?: Actor) {
          return yield* sql.withTransaction(Effect.gen(function*() {
            const outcome = yield* engine.cancelTask(taskUuid, processorUuid, reason ?? null)
            if (outcome === undefined) return yield* new NotFound({ entity: "task", id: taskUuid })
            if (!outcome.cancelled) {
              return yield* new InvalidTransition({ machine: "task", from: outcome.task_state, to: "cancelled", event: "Cancel" })
            }
            if (actor !== undefined) {
              // the operator on the task's cancel transition (written by tasker_cancel_task) and in the audit trail
              yield* sql`
                UPDATE tasker_task_transitions SET metadata = metadata || ${JSON.stringify(actorMetadata(actor))}::jsonb
                WHERE task_uuid = ${taskUuid} AND to_state = 'cancelled'
                  AND sort_key = (SELECT max(sort_key) FROM tasker_task_transitions WHERE task_uuid = ${taskUuid})`
              yield* insertAuditEvent(sql, { action: "task.cancel", actor, taskUuid, details: { reason: reason ?? null } })
            }
            yield* announce(taskUuid, outcome.task_state)
            return outcome.task_state
          }))
        }),
        resolveStep: Effect.fn("TaskOperations.resolveStep")(function*(
          taskUuid: TaskUuid,
          stepUuid: StepUuid,
          resolution: StepResolution,
          actor?: Actor
        ) {
          yield* stepOfTask(taskUuid, stepUuid)
          const result = yield* sql.withTransaction(Effect.gen(function*() {
            yield* openTask(taskUuid, "ResolveManually")
            if (resolution.allowedFrom !== undefined) {
              const [row] = yield* sql<{ current_state: StepState }>`
                SELECT current_state FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid} FOR UPDATE`
              if (row !== undefined && !resolution.allowedFrom.includes(row.current_state)) {
                return yield* new InvalidTransition({
                  machine: "step",
                  from: row.current_state,
                  to: "resolved_manually",
                  event: "ResolveManually"
                })
              }
            }
            const step = yield* transitions.step(stepUuid, {
              _tag: "ResolveManually",
              resolvedBy: resolution.resolvedBy,
              reason: resolution.reason
            }, {
              processorUuid,
              results: {
                step_uuid: stepUuid,
                success: true,
                status: "resolved_manually",
                result: resolution.resultData,
                error: null,
                metadata: { resolved_by: resolution.resolvedBy, reason: resolution.reason, resolved_at: new Date().toISOString() }
              },
              ...(actor === undefined ? {} : { metadata: actorMetadata(actor) })
            })
            if (actor !== undefined) {
              yield* insertAuditEvent(sql, {
                action: "step.resolve",
                actor,
                taskUuid,
                stepUuid,
                details: { reason: resolution.reason, forced: resolution.allowedFrom === undefined }
              })
            }
            yield* reevaluate(taskUuid, stepUuid, `step ${stepUuid} resolved manually`)
            return step.state
          }))
          return result
        }),
        retryStep: Effect.fn("TaskOperations.retryStep")(function*(taskUuid: TaskUuid, stepUuid: StepUuid, actor?: Actor) {
          yield* stepOfTask(taskUuid, stepUuid)
          return yield* sql.withTransaction(Effect.gen(function*() {
            yield* openTask(taskUuid, "Retry")
            const step = yield* transitions.step(stepUuid, { _tag: "Retry" }, {
              processorUuid,
              ...(actor === undefined ? {} : { metadata: actorMetadata(actor) })
            })
            if (actor !== undefined) yield* insertAuditEvent(sql, { action: "step.retry", actor, taskUuid, stepUuid })
            yield* reevaluate(taskUuid, stepUuid, `step ${stepUuid} retried`)
            return step.state
          }))
        }),
        giveUpTask: Effect.fn("TaskOperations.giveUpTask")(function*(taskUuid: TaskUuid, reason: string) {
          const state = yield* transitions.task(taskUuid, { _tag: "GiveUp", reason }, { processorUuid })
          yield* announce(taskUuid, state)
          return state
        })
      })
    })
  )
}
