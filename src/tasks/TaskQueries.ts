/**
 * Reading tasks: one task with its execution context, its steps, and waiting for a task to finish.
 */
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { NotFound } from "../domain/Errors.ts"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { TaskRecord } from "../domain/TaskRecord.ts"
import { ReadinessFunctions, type TaskExecutionContext } from "../db/SqlFunctions.ts"
import { coalesced } from "../internal/Coalesced.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { StepState } from "../domain/StepStateMachine.ts"
import { finishedTaskStates } from "../domain/TaskStateMachine.ts"

/** A task row as the queries read it (`TaskRecord`). */
export const TaskRow = TaskRecord
export type TaskRow = typeof TaskRow.Type

/**
 * `SELECT … FROM` the tasks with their template coordinates, as `TaskRow` columns (aliases `t`, `nt`, `ns`); the
 * caller appends its `WHERE`.
 */
export const selectTaskRows = (sql: SqlClient.SqlClient) =>
  sql`SELECT t.task_uuid, ns.name AS namespace, nt.name, nt.version, t.current_state AS status, t.complete,
             t.context, ${taskColumnsAfterContext(sql)}
      ${fromTasks(sql)}`

/** The task columns after `context`, as `selectTaskRows` and the listing (`TaskListing`) select them. */
export const taskColumnsAfterContext = (sql: SqlClient.SqlClient) =>
  sql`t.tags, t.initiator, t.source_system, t.reason, t.priority, t.correlation_id,
      t.parent_correlation_id, t.requested_at, t.completed_at, t.created_at, t.updated_at`

/** Tasks (`t`) with their template (`nt`) and namespace (`ns`). */
export const fromTasks = (sql: SqlClient.SqlClient) =>
  sql`FROM tasker_tasks t
      JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
      JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid`

export const StepRow = Schema.Struct({
  step_uuid: StepUuid,
  task_uuid: TaskUuid,
  name: Schema.String,
  current_state: StepState,
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  retryable: Schema.Boolean,
  results: Schema.NullOr(Schema.Json),
  inputs: Schema.NullOr(Schema.Json),
  last_attempted_at: Schema.NullOr(Schema.Date),
  processed_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type StepRow = typeof StepRow.Type

export interface TaskWithContext {
  readonly task: TaskRow
  readonly execution: TaskExecutionContext
}


export class WaitTimeout extends Schema.TaggedError<WaitTimeout>()("WaitTimeout", {
  taskUuid: Schema.String,
  state: Schema.String
}) {
  override get message(): string {
    return `task ${this.taskUuid} did not finish in time (state ${this.state})`
  }
}

export class TaskQueries extends Context.Service<TaskQueries, {
  readonly getTask: (taskUuid: TaskUuid) => Effect.Effect<TaskRow, NotFound | SqlError.SqlError>
  readonly getTaskWithContext: (taskUuid: TaskUuid) => Effect.Effect<TaskWithContext, NotFound | SqlError.SqlError>
  /** The task's steps, roots first (by dependency level, then name); empty for an unknown task. */
  readonly listSteps: (taskUuid: TaskUuid) => Effect.Effect<ReadonlyArray<StepRow>, SqlError.SqlError>
  /**
   * Waits until the task is complete, error, cancelled, resolved_manually or blocked_by_failures, woken by the
   * task's own notification (the poll interval is the fallback); returns the task then.
   */
  readonly waitForCompletion: (
    taskUuid: TaskUuid,
    options?: { readonly timeout?: Duration.Input }
  ) => Effect.Effect<TaskRow, NotFound | WaitTimeout | SqlError.SqlError>
}>()("tasker/tasks/TaskQueries") {
  static readonly layer = Layer.effect(
    TaskQueries,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const readiness = yield* ReadinessFunctions
      const wakeups = yield* Wakeups

      const findTask = SqlSchema.findOneOption({
        Request: TaskUuid,
        Result: TaskRow,
        execute: (taskUuid) =>
          sql`${selectTaskRows(sql)} WHERE t.task_uuid = ${taskUuid}`
      })
      const steps = SqlSchema.findAll({
        Request: TaskUuid,
        Result: StepRow,
        execute: (taskUuid) =>
          sql`SELECT ws.workflow_step_uuid AS step_uuid, ws.task_uuid, ns.name, ws.current_state, ws.attempts,
                     ws.max_attempts, ws.retryable, ws.results, ws.inputs, ws.last_attempted_at, ws.processed_at,
                     ws.created_at, ws.updated_at
              FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
              LEFT JOIN calculate_dependency_levels(${taskUuid}) l ON l.workflow_step_uuid = ws.workflow_step_uuid
              WHERE ws.task_uuid = ${taskUuid} ORDER BY l.dependency_level, ns.name`
      })

      // the waiters' reads: with thousands of tasks in flight, the waiters a burst of completions wakes share round
      // trips (one query for the reads asked for while another is in flight, at most 500)
      const findTasks = SqlSchema.findAll({
        Request: Schema.Array(Schema.String),
        Result: TaskRow,
        execute: (taskUuids) => sql`${selectTaskRows(sql)} WHERE t.task_uuid = ANY(${taskUuids}::uuid[])`
      })
      const readTask = yield* coalesced({
        maxBatch: 500,
        read: (taskUuids) =>
          findTasks(taskUuids).pipe(
            Effect.catchTag("SchemaError", (e) => Effect.die(e)),
            Effect.map((rows) => new Map(rows.map((row) => [row.task_uuid as string, row])))
          )
      })

      const getTask = Effect.fn("TaskQueries.getTask")(function*(taskUuid: TaskUuid) {
        const row = yield* findTask(taskUuid).pipe(Effect.catchTag("SchemaError", (e) => Effect.die(e)))
        if (Option.isNone(row)) return yield* new NotFound({ entity: "task", id: taskUuid })
        return row.value
      })

      const waitForCompletion = Effect.fn("TaskQueries.waitForCompletion")(function*(
        taskUuid: TaskUuid,
        options?: { readonly timeout?: Duration.Input }
      ) {
        const watch = yield* wakeups.watchTask(taskUuid)
        const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(options?.timeout ?? "5 minutes"))
        // (inside a caller's transaction the reads go through it, as getTask's do: the coalesced ones use the pool)
        const inTransaction = Option.isSome(yield* Effect.serviceOption(sql.transactionService))
        const read = inTransaction ? getTask(taskUuid) : Effect.flatMap(readTask(taskUuid), (row) =>
          Option.isNone(row) ? Effect.fail(new NotFound({ entity: "task", id: taskUuid })) : Effect.succeed(row.value))
        while (true) {
          const task = yield* read
          if (finishedTaskStates.has(task.status)) return task
          const remaining = deadline - Date.now()
          if (remaining <= 0) return yield* new WaitTimeout({ taskUuid, state: task.status })
          // this task's notification, or the poll interval (the fallback), or the deadline; a local worker whose
          // result finished the task hands its row over with the event: no need to read it again
          const woken = yield* watch.await.pipe(Effect.timeoutOption(Duration.millis(remaining)))
          if (woken._tag === "Some" && woken.value !== undefined && finishedTaskStates.has(woken.value.status)) {
            return woken.value
          }
        }
      }, Effect.scoped)

      return TaskQueries.of({
        getTask,
        getTaskWithContext: Effect.fn("TaskQueries.getTaskWithContext")(function*(taskUuid: TaskUuid) {
          const task = yield* getTask(taskUuid)
          const execution = yield* readiness.taskExecutionContext(taskUuid)
          return { task, execution }
        }),
        listSteps: (taskUuid) =>
          steps(taskUuid).pipe(Effect.catchTag("SchemaError", (e) => Effect.die(e)), Effect.withSpan("TaskQueries.listSteps")),
        waitForCompletion
      })
    })
  )
}
