/**
 * The engine's SQL functions (migrations 0002–0005: DAG helpers, transitions, readiness, discovery) as typed Effects.
 *
 * Each function is one `SqlSchema` query: the request is encoded and every row decoded by a Schema, so the rest
 * of the engine never sees an untyped row. They are grouped in three services that depend on `SqlClient` only
 * (the same code runs on PostgreSQL and on the embedded PGlite client):
 *
 * - `ReadinessFunctions`: step readiness, task execution context, DAG helpers (read-only);
 * - `TransitionFunctions`: compare-and-set transitions of tasks and steps and current-state reads;
 * - `DiscoveryFunctions`: finding and claiming tasks that need an orchestrator.
 *
 * Unknown task or step UUIDs fail with `NotFound`; database failures stay `SqlError`. A row that does not
 * decode is a bug in this module or a migration, so it is a defect, not an error of the caller.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { SqlSchema } from "effect/sql"
import { NotFound } from "../domain/Errors.ts"
import { NamedStepUuid, NamedTaskUuid, ProcessorUuid, StepUuid, TaskUuid } from "../domain/Ids.ts"
import { StepState } from "../domain/StepStateMachine.ts"
import { TaskState } from "../domain/TaskStateMachine.ts"
import { instrumentSql } from "./SqlMetrics.ts"

// ---------------------------------------------------------------------------------------------------------------
// Row schemas
// ---------------------------------------------------------------------------------------------------------------

const NullableDate = Schema.NullOr(Schema.Date)

/** One row of `get_step_readiness_status`. */
export const StepReadinessStatus = Schema.Struct({
  workflow_step_uuid: StepUuid,
  task_uuid: TaskUuid,
  named_step_uuid: NamedStepUuid,
  name: Schema.String,
  current_state: StepState,
  dependencies_satisfied: Schema.Boolean,
  retry_eligible: Schema.Boolean,
  ready_for_execution: Schema.Boolean,
  last_failure_at: NullableDate,
  next_retry_at: NullableDate,
  total_parents: Schema.Int,
  completed_parents: Schema.Int,
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  backoff_request_seconds: Schema.NullOr(Schema.Number),
  last_attempted_at: NullableDate
})
export type StepReadinessStatus = typeof StepReadinessStatus.Type

export const ExecutionStatus = Schema.Literals([
  "has_ready_steps",
  "processing",
  "blocked_by_failures",
  "all_complete",
  "waiting_for_retry",
  "waiting_for_dependencies"
])
export type ExecutionStatus = typeof ExecutionStatus.Type

export const RecommendedAction = Schema.Literals([
  "execute_ready_steps",
  "wait_for_completion",
  "handle_failures",
  "finalize_task",
  "wait_for_retry",
  "wait_for_dependencies"
])
export type RecommendedAction = typeof RecommendedAction.Type

export const HealthStatus = Schema.Literals(["healthy", "recovering", "blocked"])
export type HealthStatus = typeof HealthStatus.Type

/** One row of `get_task_execution_context`. */
export const TaskExecutionContext = Schema.Struct({
  task_uuid: TaskUuid,
  named_task_uuid: NamedTaskUuid,
  status: TaskState,
  total_steps: Schema.Int,
  pending_steps: Schema.Int,
  in_progress_steps: Schema.Int,
  completed_steps: Schema.Int,
  failed_steps: Schema.Int,
  ready_steps: Schema.Int,
  execution_status: ExecutionStatus,
  recommended_action: RecommendedAction,
  completion_percentage: Schema.Number,
  health_status: HealthStatus,
  enqueued_steps: Schema.Int,
  waiting_for_retry_steps: Schema.Int,
  blocked_steps: Schema.Int
})
export type TaskExecutionContext = typeof TaskExecutionContext.Type

/** One row of `get_step_transitive_dependencies`: an ancestor at its shortest distance (1 = parent). */
export const TransitiveDependency = Schema.Struct({
  workflow_step_uuid: StepUuid,
  task_uuid: TaskUuid,
  named_step_uuid: NamedStepUuid,
  step_name: Schema.String,
  results: Schema.NullOr(Schema.Json),
  processed: Schema.Boolean,
  distance: Schema.Int
})
export type TransitiveDependency = typeof TransitiveDependency.Type

export const DependencyLevel = Schema.Struct({
  workflow_step_uuid: StepUuid,
  dependency_level: Schema.Int
})
export type DependencyLevel = typeof DependencyLevel.Type

/** One row of `get_next_ready_tasks` / `get_task_ready_info`. */
export const ReadyTask = Schema.Struct({
  task_uuid: TaskUuid,
  task_name: Schema.String,
  priority: Schema.Int,
  namespace_name: Schema.String,
  ready_steps_count: Schema.Int,
  computed_priority: Schema.Number,
  /** the state the task was found in */
  current_state: TaskState,
  /** the state it was claimed into (null from `get_task_ready_info`, which does not claim) */
  claimed_state: Schema.NullOr(TaskState),
  execution_status: ExecutionStatus
})
export type ReadyTask = typeof ReadyTask.Type

/** Outcome of `transition_task_state_atomic` for an existing task. */
export const TaskTransitionOutcome = Schema.Struct({
  transitioned: Schema.Boolean,
  current_state: TaskState,
  owner_processor_uuid: Schema.NullOr(ProcessorUuid)
})
export type TaskTransitionOutcome = typeof TaskTransitionOutcome.Type

/** Outcome of `transition_step_state_atomic` for an existing step. */
export const StepTransitionOutcome = Schema.Struct({
  transitioned: Schema.Boolean,
  current_state: StepState,
  attempts: Schema.Int
})
export type StepTransitionOutcome = typeof StepTransitionOutcome.Type

const CurrentStepState = Schema.Struct({ current_state: StepState, attempts: Schema.Int })
export type CurrentStepState = typeof CurrentStepState.Type

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

/** Metadata stored with a transition (`metadata` jsonb). */
export type TransitionMetadata = { readonly [key: string]: Schema.Json }

export interface TaskTransitionRequest {
  readonly taskUuid: TaskUuid
  /** the state the caller believes the task is in; null writes the initial transition */
  readonly from: TaskState | null
  readonly to: TaskState
  readonly processorUuid: ProcessorUuid | null
  readonly metadata?: TransitionMetadata | undefined
  /** seconds without a heartbeat after which an owner counts as gone (default 60) */
  readonly staleAfterSeconds?: number | undefined
}

export interface StepTransitionRequest {
  readonly stepUuid: StepUuid
  readonly from: StepState | null
  readonly to: StepState
  readonly metadata?: TransitionMetadata | undefined
  /** stored in `results` when entering a state that records results */
  readonly results?: Schema.Json | undefined
  readonly processorUuid?: ProcessorUuid | null | undefined
  /** only transition if the step's attempts still equal this (guards a superseded claim) */
  readonly expectedAttempts?: number | undefined
}

export interface NextReadyTasksRequest {
  readonly limit: number
  readonly processorUuid: ProcessorUuid
  readonly staleAfterSeconds?: number | undefined
}

const DEFAULT_STALE_AFTER_SECONDS = 60

const orDieOnDecode = <A, E, R>(self: Effect.Effect<A, E | Schema.SchemaError, R>) =>
  Effect.catchTag(self, "SchemaError", (e) => Effect.die(e)) as Effect.Effect<A, Exclude<E, Schema.SchemaError>, R>

const jsonParam = (value: Schema.Json | undefined | null): string | null =>
  value === undefined || value === null ? null : JSON.stringify(value)

// ---------------------------------------------------------------------------------------------------------------
// ReadinessFunctions
// ---------------------------------------------------------------------------------------------------------------

export class ReadinessFunctions extends Context.Service<ReadinessFunctions, {
  /** `get_step_readiness_status`: every step of the task (or only `stepUuids`), ordered by step uuid. */
  readonly stepReadinessStatus: (
    taskUuid: TaskUuid,
    stepUuids?: ReadonlyArray<StepUuid>
  ) => Effect.Effect<ReadonlyArray<StepReadinessStatus>, NotFound | SqlError.SqlError>
  /** `get_step_readiness_status_batch`: steps of several tasks, ordered by task, step. Unknown tasks are absent. */
  readonly stepReadinessStatusBatch: (
    taskUuids: ReadonlyArray<TaskUuid>
  ) => Effect.Effect<ReadonlyArray<StepReadinessStatus>, SqlError.SqlError>
  /** `get_task_execution_context` */
  readonly taskExecutionContext: (taskUuid: TaskUuid) => Effect.Effect<TaskExecutionContext, NotFound | SqlError.SqlError>
  /** `get_task_execution_contexts_batch`: one context per existing task, in input order. */
  readonly taskExecutionContexts: (
    taskUuids: ReadonlyArray<TaskUuid>
  ) => Effect.Effect<ReadonlyArray<TaskExecutionContext>, SqlError.SqlError>
  /** `get_step_transitive_dependencies`: every ancestor once, nearest first. */
  readonly stepTransitiveDependencies: (
    stepUuid: StepUuid
  ) => Effect.Effect<ReadonlyArray<TransitiveDependency>, NotFound | SqlError.SqlError>
  /** `calculate_dependency_levels`: roots 0, otherwise the longest path from a root. */
  readonly dependencyLevels: (taskUuid: TaskUuid) => Effect.Effect<ReadonlyArray<DependencyLevel>, NotFound | SqlError.SqlError>
}>()("tasker/db/ReadinessFunctions") {
  static readonly layer = Layer.effect(
    ReadinessFunctions,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exists = existenceChecks(sql)

      const readiness = SqlSchema.findAll({
        Request: Schema.Struct({ taskUuids: Schema.Array(TaskUuid), stepUuids: Schema.NullOr(Schema.Array(StepUuid)) }),
        Result: StepReadinessStatus,
        execute: ({ stepUuids, taskUuids }) =>
          sql`SELECT * FROM get_step_readiness_status_batch(${taskUuids}::uuid[], ${stepUuids}::uuid[])`
      })
      const contexts = SqlSchema.findAll({
        Request: Schema.Array(TaskUuid),
        Result: TaskExecutionContext,
        execute: (taskUuids) => sql`SELECT * FROM get_task_execution_contexts_batch(${taskUuids}::uuid[])`
      })
      const context = SqlSchema.findOneOption({
        Request: TaskUuid,
        Result: TaskExecutionContext,
        execute: (taskUuid) => sql`SELECT * FROM get_task_execution_context(${taskUuid})`
      })
      const ancestors = SqlSchema.findAll({
        Request: StepUuid,
        Result: TransitiveDependency,
        execute: (stepUuid) => sql`SELECT * FROM get_step_transitive_dependencies(${stepUuid})`
      })
      const levels = SqlSchema.findAll({
        Request: TaskUuid,
        Result: DependencyLevel,
        execute: (taskUuid) => sql`SELECT * FROM calculate_dependency_levels(${taskUuid})`
      })

      return ReadinessFunctions.of({
        stepReadinessStatus: Effect.fn("ReadinessFunctions.stepReadinessStatus")(
          function*(taskUuid: TaskUuid, stepUuids?: ReadonlyArray<StepUuid>) {
            const rows = yield* orDieOnDecode(readiness({ taskUuids: [taskUuid], stepUuids: stepUuids ?? null }))
            if (rows.length === 0) yield* exists.task(taskUuid)
            return rows
          },
          instrumentSql("get_step_readiness_status")
        ),
        stepReadinessStatusBatch: Effect.fn("ReadinessFunctions.stepReadinessStatusBatch")(
          function*(taskUuids: ReadonlyArray<TaskUuid>) {
            return yield* orDieOnDecode(readiness({ taskUuids, stepUuids: null }))
          },
          instrumentSql("get_step_readiness_status_batch")
        ),
        taskExecutionContext: Effect.fn("ReadinessFunctions.taskExecutionContext")(function*(taskUuid: TaskUuid) {
          const row = yield* orDieOnDecode(context(taskUuid))
          if (row._tag === "None") return yield* new NotFound({ entity: "task", id: taskUuid })
          return row.value
        }, instrumentSql("get_task_execution_context")),
        taskExecutionContexts: Effect.fn("ReadinessFunctions.taskExecutionContexts")(
          function*(taskUuids: ReadonlyArray<TaskUuid>) {
            return yield* orDieOnDecode(contexts(taskUuids))
          },
          instrumentSql("get_task_execution_contexts_batch")
        ),
        stepTransitiveDependencies: Effect.fn("ReadinessFunctions.stepTransitiveDependencies")(
          function*(stepUuid: StepUuid) {
            const rows = yield* orDieOnDecode(ancestors(stepUuid))
            if (rows.length === 0) yield* exists.step(stepUuid)
            return rows
          },
          instrumentSql("get_step_transitive_dependencies")
        ),
        dependencyLevels: Effect.fn("ReadinessFunctions.dependencyLevels")(function*(taskUuid: TaskUuid) {
          const rows = yield* orDieOnDecode(levels(taskUuid))
          if (rows.length === 0) yield* exists.task(taskUuid)
          return rows
        }, instrumentSql("calculate_dependency_levels"))
      })
    })
  )
}

/** Existence checks used to tell "no rows" from "no such task/step". */
const existenceChecks = (sql: SqlClient.SqlClient) => ({
  task: (taskUuid: TaskUuid) =>
    sql<{ readonly found: number }>`SELECT 1 AS found FROM tasker_tasks WHERE task_uuid = ${taskUuid}`.pipe(
      Effect.flatMap((rows) =>
        rows.length === 0 ? Effect.fail(new NotFound({ entity: "task", id: taskUuid })) : Effect.void
      )
    ),
  step: (stepUuid: StepUuid) =>
    sql<{ readonly found: number }>`SELECT 1 AS found FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
      .pipe(
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.fail(new NotFound({ entity: "step", id: stepUuid })) : Effect.void
        )
      )
})

// ---------------------------------------------------------------------------------------------------------------
// TransitionFunctions
// ---------------------------------------------------------------------------------------------------------------

export class TransitionFunctions extends Context.Service<TransitionFunctions, {
  /**
   * `transition_task_state_atomic`: compare-and-set on the task's current state, with the ownership check.
   * Succeeds with the outcome (check `transitioned`); fails only for an unknown task or a database error.
   */
  readonly transitionTaskStateAtomic: (
    request: TaskTransitionRequest
  ) => Effect.Effect<TaskTransitionOutcome, NotFound | SqlError.SqlError>
  /** `transition_step_state_atomic`: compare-and-set on the step's current state (and attempts, if given). */
  readonly transitionStepStateAtomic: (
    request: StepTransitionRequest
  ) => Effect.Effect<StepTransitionOutcome, NotFound | SqlError.SqlError>
  /** `get_current_task_state` */
  readonly currentTaskState: (taskUuid: TaskUuid) => Effect.Effect<TaskState, NotFound | SqlError.SqlError>
  /** The step's current state and attempts. */
  readonly currentStepState: (stepUuid: StepUuid) => Effect.Effect<CurrentStepState, NotFound | SqlError.SqlError>
}>()("tasker/db/TransitionFunctions") {
  static readonly layer = Layer.effect(
    TransitionFunctions,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const taskCas = SqlSchema.findOneOption({
        Request: Schema.Struct({
          taskUuid: TaskUuid,
          from: Schema.NullOr(TaskState),
          to: TaskState,
          processorUuid: Schema.NullOr(ProcessorUuid),
          metadata: Schema.String,
          staleAfterSeconds: Schema.Int
        }),
        Result: TaskTransitionOutcome,
        execute: (r) =>
          sql`SELECT * FROM transition_task_state_atomic(${r.taskUuid}, ${r.from}::varchar, ${r.to}::varchar, ${r.processorUuid}::uuid, ${r.metadata}::jsonb, ${r.staleAfterSeconds}::integer)`
      })
      const stepCas = SqlSchema.findOneOption({
        Request: Schema.Struct({
          stepUuid: StepUuid,
          from: Schema.NullOr(StepState),
          to: StepState,
          metadata: Schema.String,
          results: Schema.NullOr(Schema.String),
          processorUuid: Schema.NullOr(ProcessorUuid),
          expectedAttempts: Schema.NullOr(Schema.Int)
        }),
        Result: StepTransitionOutcome,
        execute: (r) =>
          sql`SELECT * FROM transition_step_state_atomic(${r.stepUuid}, ${r.from}::varchar, ${r.to}::varchar, ${r.metadata}::jsonb, ${r.results}::jsonb, ${r.processorUuid}::uuid, ${r.expectedAttempts}::integer)`
      })
      const taskState = SqlSchema.findOneOption({
        Request: TaskUuid,
        Result: Schema.Struct({ state: Schema.NullOr(TaskState) }),
        execute: (taskUuid) => sql`SELECT get_current_task_state(${taskUuid}) AS state`
      })
      const stepState = SqlSchema.findOneOption({
        Request: StepUuid,
        Result: CurrentStepState,
        execute: (stepUuid) =>
          sql`SELECT current_state, attempts FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
      })

      return TransitionFunctions.of({
        transitionTaskStateAtomic: Effect.fn("TransitionFunctions.transitionTaskStateAtomic")(
          function*(request: TaskTransitionRequest) {
            const outcome = yield* orDieOnDecode(taskCas({
              taskUuid: request.taskUuid,
              from: request.from,
              to: request.to,
              processorUuid: request.processorUuid,
              metadata: JSON.stringify(request.metadata ?? {}),
              staleAfterSeconds: request.staleAfterSeconds ?? DEFAULT_STALE_AFTER_SECONDS
            }))
            if (outcome._tag === "None") return yield* new NotFound({ entity: "task", id: request.taskUuid })
            return outcome.value
          },
          instrumentSql("transition_task_state_atomic")
        ),
        transitionStepStateAtomic: Effect.fn("TransitionFunctions.transitionStepStateAtomic")(
          function*(request: StepTransitionRequest) {
            const outcome = yield* orDieOnDecode(stepCas({
              stepUuid: request.stepUuid,
              from: request.from,
              to: request.to,
              metadata: JSON.stringify(request.metadata ?? {}),
              results: jsonParam(request.results),
              processorUuid: request.processorUuid ?? null,
              expectedAttempts: request.expectedAttempts ?? null
            }))
            if (outcome._tag === "None") return yield* new NotFound({ entity: "step", id: request.stepUuid })
            return outcome.value
          },
          instrumentSql("transition_step_state_atomic")
        ),
        currentTaskState: Effect.fn("TransitionFunctions.currentTaskState")(function*(taskUuid: TaskUuid) {
          const row = yield* orDieOnDecode(taskState(taskUuid))
          if (row._tag === "None" || row.value.state === null) {
            return yield* new NotFound({ entity: "task", id: taskUuid })
          }
          return row.value.state
        }, instrumentSql("get_current_task_state")),
        currentStepState: Effect.fn("TransitionFunctions.currentStepState")(function*(stepUuid: StepUuid) {
          const row = yield* orDieOnDecode(stepState(stepUuid))
          if (row._tag === "None") return yield* new NotFound({ entity: "step", id: stepUuid })
          return row.value
        }, instrumentSql("current_step_state"))
      })
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// DiscoveryFunctions
// ---------------------------------------------------------------------------------------------------------------

export class DiscoveryFunctions extends Context.Service<DiscoveryFunctions, {
  /**
   * `get_next_ready_tasks`: claims up to `limit` tasks for `processorUuid` (pending → initializing, waiting →
   * evaluating_results, stale owner → taken over). Concurrent callers never receive the same task.
   */
  readonly nextReadyTasks: (request: NextReadyTasksRequest) => Effect.Effect<ReadonlyArray<ReadyTask>, SqlError.SqlError>
  /** `get_task_ready_info`: the same row for one task, without claiming it. */
  readonly taskReadyInfo: (taskUuid: TaskUuid) => Effect.Effect<ReadyTask, NotFound | SqlError.SqlError>
}>()("tasker/db/DiscoveryFunctions") {
  static readonly layer = Layer.effect(
    DiscoveryFunctions,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const next = SqlSchema.findAll({
        Request: Schema.Struct({ limit: Schema.Int, processorUuid: ProcessorUuid, staleAfterSeconds: Schema.Int }),
        Result: ReadyTask,
        execute: (r) =>
          sql`SELECT * FROM get_next_ready_tasks(${r.limit}::integer, ${r.processorUuid}::uuid, ${r.staleAfterSeconds}::integer)`
      })
      const info = SqlSchema.findOneOption({
        Request: TaskUuid,
        Result: ReadyTask,
        execute: (taskUuid) => sql`SELECT * FROM get_task_ready_info(${taskUuid})`
      })

      return DiscoveryFunctions.of({
        nextReadyTasks: Effect.fn("DiscoveryFunctions.nextReadyTasks")(function*(request: NextReadyTasksRequest) {
          return yield* orDieOnDecode(next({
            limit: request.limit,
            processorUuid: request.processorUuid,
            staleAfterSeconds: request.staleAfterSeconds ?? DEFAULT_STALE_AFTER_SECONDS
          }))
        }, instrumentSql("get_next_ready_tasks")),
        taskReadyInfo: Effect.fn("DiscoveryFunctions.taskReadyInfo")(function*(taskUuid: TaskUuid) {
          const row = yield* orDieOnDecode(info(taskUuid))
          if (row._tag === "None") return yield* new NotFound({ entity: "task", id: taskUuid })
          return row.value
        }, instrumentSql("get_task_ready_info"))
      })
    })
  )
}

/** All three function services; requires `SqlClient`. */
export const SqlFunctionsLayer = Layer.mergeAll(
  ReadinessFunctions.layer,
  TransitionFunctions.layer,
  DiscoveryFunctions.layer
)
