/**
 * The engine's fused SQL functions (migrations/0007_engine.sql) as typed Effects. Each call is one round trip and one
 * transaction: state change, enqueue and notification commit together, so no crash can leave a step `enqueued`
 * without its message or a result recorded without its notice to the orchestrator.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import type { NamedStepUuid, NamedTaskUuid, ProcessorUuid } from "../domain/Ids.ts"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { StepState } from "../domain/StepStateMachine.ts"
import { type TaskRecord, TaskRecordFromJson } from "../domain/TaskRecord.ts"
import { instrumentSql } from "./SqlMetrics.ts"
import { TaskState } from "../domain/TaskStateMachine.ts"

const Headers = Schema.Json

/** The queue message a processed result or a claim came from. */
const messageFields = {
  msg_id: Schema.BigInt,
  read_ct: Schema.Int,
  enqueued_at: Schema.Date,
  headers: Headers
}

export const CreatedTaskRow = Schema.Struct({
  task_uuid: TaskUuid,
  created: Schema.Boolean,
  task_state: TaskState,
  step_mapping: Schema.Record(Schema.String, StepUuid),
  correlation_id: Schema.String,
  /** root steps enqueued by the creation */
  enqueued_count: Schema.Int,
  created_at: Schema.Date
})
export type CreatedTaskRow = typeof CreatedTaskRow.Type

export const EvaluationRow = Schema.Struct({
  task_state: TaskState,
  execution_status: Schema.NullOr(Schema.String),
  /** enqueued | completed | blocked | waiting | none | owned_by_other */
  action: Schema.String,
  enqueued_step_uuids: Schema.Array(StepUuid)
})
export type EvaluationRow = typeof EvaluationRow.Type

export const ResultOutcome = Schema.Literals([
  "completed",
  "retry_scheduled",
  "failed",
  "ignored",
  "dead_lettered",
  "error"
])
export type ResultOutcome = typeof ResultOutcome.Type

/** One processed result message. */
export const ProcessedResult = Schema.Struct({
  ...messageFields,
  step_uuid: Schema.NullOr(StepUuid),
  task_uuid: Schema.NullOr(TaskUuid),
  correlation_id: Schema.NullOr(Schema.String),
  step_state: Schema.NullOr(StepState),
  task_state: Schema.NullOr(TaskState),
  outcome: ResultOutcome,
  execution_status: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  /** steps the result's evaluation enqueued */
  enqueued_count: Schema.Int,
  /** the task's parent correlation, namespace and name (null when the message could not be processed) */
  parent_correlation_id: Schema.NullOr(Schema.String),
  namespace_name: Schema.NullOr(Schema.String),
  task_name: Schema.NullOr(Schema.String)
})
export type ProcessedResult = typeof ProcessedResult.Type

export const ClaimOutcome = Schema.Literals(["claimed", "abandoned", "discarded", "dead_lettered"])
export type ClaimOutcome = typeof ClaimOutcome.Type

/** A claimed step's handler context (`tasker_claimed_steps`), besides its message. */
const claimFields = {
  outcome: ClaimOutcome,
  reason: Schema.NullOr(Schema.String),
  step_uuid: Schema.NullOr(StepUuid),
  task_uuid: Schema.NullOr(TaskUuid),
  correlation_id: Schema.NullOr(Schema.String),
  parent_correlation_id: Schema.NullOr(Schema.String),
  namespace_name: Schema.NullOr(Schema.String),
  task_name: Schema.NullOr(Schema.String),
  task_version: Schema.NullOr(Schema.String),
  step_name: Schema.NullOr(Schema.String),
  attempts: Schema.NullOr(Schema.Int),
  max_attempts: Schema.NullOr(Schema.Int),
  retryable: Schema.NullOr(Schema.Boolean),
  timeout_seconds: Schema.NullOr(Schema.Int),
  inputs: Schema.NullOr(Schema.Json),
  task_context: Schema.NullOr(Schema.Json),
  dependency_results: Schema.NullOr(Schema.Record(Schema.String, Schema.Json)),
  /** the message's read that made this claim: the result or give-back names it (null when nothing was claimed) */
  claim_id: Schema.NullOr(Schema.String)
}

/** One step message read by a worker: a claimed step with its handler context, or why it was not claimed. */
export const ClaimRow = Schema.Struct({ ...messageFields, ...claimFields })
export type ClaimRow = typeof ClaimRow.Type

/**
 * A claim as `tasker_submit_step_result` returns the children it handed to the worker, and `tasker_create_task` the
 * roots it handed to it (JSON: msg_id as text).
 */
const ClaimJson = Schema.Struct({
  ...messageFields,
  msg_id: Schema.BigIntFromString,
  enqueued_at: Schema.DateFromString,
  ...claimFields
})
export type HandedOffClaim = typeof ClaimJson.Type

/** `tasker_create_task`'s row: a created task's, with the root steps claimed for the caller's worker. */
export const CreatedTaskWithClaims = Schema.Struct({
  ...CreatedTaskRow.fields,
  /** root steps claimed for the caller's worker in the creation's transaction (`handoffLimit`): run them at once */
  claims: Schema.Array(ClaimJson)
})
export type CreatedTaskWithClaims = typeof CreatedTaskWithClaims.Type

export const SubmitOutcome = Schema.Struct({
  /** processed: applied inline; submitted: sent to the orchestrators; superseded / discarded: nothing written */
  outcome: Schema.Literals(["processed", "submitted", "superseded", "discarded"]),
  step_state: Schema.NullOr(StepState),
  task_uuid: Schema.NullOr(TaskUuid),
  /** the task's state after inline processing */
  task_state: Schema.NullOr(TaskState),
  /** what inline processing did with the result: completed, retry_scheduled, failed, ignored */
  result_outcome: Schema.NullOr(Schema.String),
  /** steps inline processing enqueued: on the queue for any worker, or handed to this one (`claims`) */
  enqueued_count: Schema.Int,
  /** children that became ready and were claimed for this worker in the same transaction: run them at once */
  claims: Schema.Array(ClaimJson),
  /** the finished task's row as JSON (`tasker_finished_task_record`), decoded apart: see `SubmitOutcome.task` */
  task: Schema.optionalKey(Schema.NullOr(Schema.Json))
})
export type SubmitOutcome = Omit<typeof SubmitOutcome.Type, "task"> & {
  /**
   * The task's row as it committed, when this result finished it (terminal or blocked_by_failures): the waiters in
   * this process take it instead of reading the task again. Absent when the database's functions predate it, or when
   * the row does not decode (a timestamp past year 9999, say): the waiters then read the task. It is a shortcut, so
   * it never fails a submission, which has committed by the time the row is decoded.
   */
  readonly task?: TaskRecord | undefined
}
const decodeTaskRecordJson = Schema.decodeUnknownOption(TaskRecordFromJson)

/** A template step as `tasker_create_task` takes it. */
export interface StepSpec {
  readonly name: string
  readonly named_step_uuid: NamedStepUuid
  readonly retryable: boolean
  readonly max_attempts: number
  readonly backoff: string
  readonly backoff_base_ms: number
  readonly max_backoff_ms: number
  readonly timeout_seconds: number | null
  readonly inputs: Schema.Json
  readonly depends_on: ReadonlyArray<string>
}

/** A task to create, checked against its template (`TaskInitializer`). */
export interface NewTask {
  readonly namedTaskUuid: NamedTaskUuid
  /** the worker queue of the template's namespace */
  readonly queue: string
  readonly identityHash: string
  readonly correlationId: string
  readonly parentCorrelationId: string | null
  readonly context: Schema.Json
  readonly tags: ReadonlyArray<string>
  readonly priority: number
  readonly initiator: string | null
  readonly sourceSystem: string | null
  readonly reason: string | null
  readonly requestedAt: Date | null
  readonly steps: ReadonlyArray<StepSpec>
  /** this task's trace context (its `trace_headers` and its root steps' messages) in a batch; default the batch's */
  readonly headers?: Schema.Json
}

export interface CreateTaskParams extends NewTask {
  readonly processorUuid: ProcessorUuid
  readonly headers: Schema.Json
  /** root steps to claim for the caller's worker (default 0: every root is enqueued) */
  readonly handoffLimit?: number
  /** the visibility timeout of those claims, in seconds (default 30) */
  readonly visibilityTimeoutSeconds?: number
}

export interface CreateTasksParams {
  readonly tasks: ReadonlyArray<NewTask>
  readonly processorUuid: ProcessorUuid
  readonly headers: Schema.Json
}

export interface ResultBatchParams {
  readonly processorUuid: ProcessorUuid
  readonly limit: number
  readonly visibilityTimeoutSeconds: number
  readonly maxReadCount: number
  readonly maxBackoffSeconds: number
  readonly jitter: number
}

export interface ClaimParams {
  readonly queue: string
  readonly processorUuid: ProcessorUuid
  readonly limit: number
  readonly visibilityTimeoutSeconds: number
}

/** One result of a batch (`SubmitBatchParams`). */
export interface SubmittedResult {
  readonly msgId: bigint
  /** the claim's read of the message (`claim_id`): a result of a claim that is no longer the message's is superseded */
  readonly claimId: string
  readonly stepUuid: StepUuid
  /** the step's task, as its claim returned it (the batch is applied in task order) */
  readonly taskUuid: TaskUuid
  readonly attempts: number
  readonly success: boolean
  readonly results: Schema.Json
  readonly headers: Schema.Json
}

export interface SubmitBatchParams {
  readonly queue: string
  readonly processorUuid: ProcessorUuid
  readonly results: ReadonlyArray<SubmittedResult>
  readonly processInline: boolean
  readonly maxBackoffSeconds: number
  readonly jitter: number
  /** claim the children the results make ready for this worker (false: enqueue them all, e.g. when shutting down) */
  readonly handoff: boolean
  /** free slots of the worker besides the successful steps' own, for the children they make ready */
  readonly extraSlots: number
  readonly visibilityTimeoutSeconds: number
}

const json = (value: Schema.Json): string => JSON.stringify(value)

const die = <A, E, R>(self: Effect.Effect<A, E | Schema.SchemaError, R>) =>
  Effect.catchTag(self, "SchemaError", (e) => Effect.die(e)) as Effect.Effect<A, Exclude<E, Schema.SchemaError>, R>

/** `tasker_release_step`'s parameters: an unfinished attempt given back. */
export interface ReleaseStepParams {
  readonly queue: string
  readonly msgId: bigint
  /** the claim's read of the message (`claim_id`) */
  readonly claimId: string
  readonly stepUuid: StepUuid
  readonly attempts: number
  readonly processorUuid: ProcessorUuid
  /** the message becomes visible again after this many seconds (default 0) */
  readonly delaySeconds?: number
}

export class EngineFunctions extends Context.Service<EngineFunctions, {
  /** `tasker_create_task`: create (or find, by identity) a task and enqueue its root steps, in one transaction. */
  readonly createTask: (params: CreateTaskParams) => Effect.Effect<CreatedTaskWithClaims, SqlError.SqlError>
  /** `tasker_create_tasks`: the same for many tasks, one insert per table; one row per task, in order. */
  readonly createTasks: (params: CreateTasksParams) => Effect.Effect<ReadonlyArray<CreatedTaskRow>, SqlError.SqlError>
  /** `tasker_evaluate_task`: move an owned task on according to its execution context. */
  readonly evaluateTask: (
    taskUuid: TaskUuid,
    processorUuid: ProcessorUuid,
    options?: { readonly headers?: Schema.Json; readonly staleAfterSeconds?: number }
  ) => Effect.Effect<EvaluationRow | undefined, SqlError.SqlError>
  /** `tasker_process_result_messages`: read and apply a batch of step results. */
  readonly processResultMessages: (params: ResultBatchParams) => Effect.Effect<ReadonlyArray<ProcessedResult>, SqlError.SqlError>
  /** `tasker_claim_step_messages`: read step messages and claim their steps. */
  readonly claimStepMessages: (params: ClaimParams) => Effect.Effect<ReadonlyArray<ClaimRow>, SqlError.SqlError>
  /**
   * `tasker_submit_step_results`: claimed attempts' results, in one transaction (each as `tasker_submit_step_result`:
   * applied inline, or handed to the orchestrators); one outcome per result, in their order.
   */
  readonly submitStepResults: (params: SubmitBatchParams) => Effect.Effect<ReadonlyArray<SubmitOutcome>, SqlError.SqlError>
  /** `tasker_release_step`: give an unfinished attempt back. */
  readonly releaseStep: (params: ReleaseStepParams) => Effect.Effect<boolean, SqlError.SqlError>
  /** `tasker_set_vt`: keeps a message hidden for `seconds` more (false when it is gone). */
  /** `tasker_set_vt` for a claim: extends the message's visibility only while it is still this claim's (`claimId`). */
  readonly extendClaim: (queue: string, msgId: bigint, claimId: string, seconds: number) => Effect.Effect<boolean, SqlError.SqlError>
  /** `tasker_cancel_task`: undefined for an unknown task. */
  readonly cancelTask: (
    taskUuid: TaskUuid,
    processorUuid: ProcessorUuid,
    reason: string | null
  ) => Effect.Effect<{ readonly task_state: TaskState; readonly cancelled: boolean } | undefined, SqlError.SqlError>
  /** `tasker_give_up_blocked_tasks` */
  readonly giveUpBlockedTasks: (
    processorUuid: ProcessorUuid,
    blockedForSeconds: number,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<TaskUuid>, SqlError.SqlError>
  /** `tasker_next_retry_at`: when the next step waiting for a retry becomes ready. */
  readonly nextRetryAt: Effect.Effect<Date | null, SqlError.SqlError>
}>()("tasker/db/EngineFunctions") {
  static readonly layer = Layer.effect(
    EngineFunctions,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const createTask = SqlSchema.findOne({
        Request: Schema.Any,
        Result: CreatedTaskWithClaims,
        execute: (p: CreateTaskParams) =>
          sql`SELECT * FROM tasker_create_task(
            ${p.namedTaskUuid}::uuid, ${p.identityHash}::varchar, ${p.correlationId}::uuid,
            ${p.parentCorrelationId}::uuid, ${json(p.context)}::jsonb, ${json([...p.tags])}::jsonb,
            ${p.priority}::integer, ${p.initiator}::varchar, ${p.sourceSystem}::varchar, ${p.reason}::varchar,
            ${p.requestedAt}::timestamptz, ${json(p.steps as unknown as Schema.Json)}::jsonb, ${p.processorUuid}::uuid,
            ${json(p.headers)}::jsonb, ${p.handoffLimit ?? 0}::integer,
            ${p.visibilityTimeoutSeconds ?? 30}::double precision)`
      })
      const createMany = SqlSchema.findAll({
        Request: Schema.Any,
        Result: Schema.Struct({ ord: Schema.Int, ...CreatedTaskRow.fields }),
        execute: (p: CreateTasksParams) =>
          sql`SELECT * FROM tasker_create_tasks(${
            json(p.tasks.map((t) => ({
              named_task_uuid: t.namedTaskUuid,
              queue: t.queue,
              identity_hash: t.identityHash,
              correlation_id: t.correlationId,
              parent_correlation_id: t.parentCorrelationId,
              context: t.context,
              tags: [...t.tags],
              priority: t.priority,
              initiator: t.initiator,
              source_system: t.sourceSystem,
              reason: t.reason,
              requested_at: t.requestedAt?.toISOString() ?? null,
              steps: t.steps as unknown as Schema.Json,
              ...(t.headers === undefined ? {} : { headers: t.headers })
            })))
          }::jsonb, ${p.processorUuid}::uuid, ${json(p.headers)}::jsonb)`
      })
      const evaluate = SqlSchema.findOneOption({
        Request: Schema.Any,
        Result: EvaluationRow,
        execute: (r: { taskUuid: TaskUuid; processorUuid: ProcessorUuid; headers: Schema.Json; stale: number }) =>
          sql`SELECT * FROM tasker_evaluate_task(${r.taskUuid}::uuid, ${r.processorUuid}::uuid, ${json(r.headers)}::jsonb,
                                                  ${r.stale}::integer)`
      })
      const results = SqlSchema.findAll({
        Request: Schema.Any,
        Result: ProcessedResult,
        execute: (p: ResultBatchParams) =>
          sql`SELECT * FROM tasker_process_result_messages(${p.processorUuid}::uuid, ${p.limit}::integer,
                ${p.visibilityTimeoutSeconds}::double precision, ${p.maxReadCount}::integer,
                ${p.maxBackoffSeconds}::double precision, ${p.jitter}::double precision)`
      })
      const claim = SqlSchema.findAll({
        Request: Schema.Any,
        Result: ClaimRow,
        execute: (p: ClaimParams) =>
          sql`SELECT * FROM tasker_claim_step_messages(${p.queue}::varchar, ${p.processorUuid}::uuid, ${p.limit}::integer,
                ${p.visibilityTimeoutSeconds}::double precision)`
      })
      const submitBatch = SqlSchema.findAll({
        Request: Schema.Any,
        Result: Schema.Struct({ ord: Schema.Int, ...SubmitOutcome.fields }),
        execute: (p: SubmitBatchParams) =>
          sql`SELECT * FROM tasker_submit_step_results(${p.queue}::varchar, ${
            json(p.results.map((r) => ({
              msg_id: String(r.msgId),
              claim_id: r.claimId,
              step_uuid: r.stepUuid,
              task_uuid: r.taskUuid,
              attempts: r.attempts,
              success: r.success,
              results: r.results,
              headers: r.headers
            })))
          }::jsonb, ${p.processorUuid}::uuid, ${p.processInline}::boolean, ${p.maxBackoffSeconds}::double precision,
                ${p.jitter}::double precision, ${p.extraSlots}::integer, ${p.visibilityTimeoutSeconds}::double precision,
                ${p.handoff}::boolean)`
      })
      const cancel = SqlSchema.findOneOption({
        Request: Schema.Any,
        Result: Schema.Struct({ task_state: TaskState, cancelled: Schema.Boolean }),
        execute: (r: { taskUuid: TaskUuid; processorUuid: ProcessorUuid; reason: string | null }) =>
          sql`SELECT * FROM tasker_cancel_task(${r.taskUuid}::uuid, ${r.processorUuid}::uuid, ${r.reason}::text)`
      })
      const orDieOne = <A, R>(self: Effect.Effect<A, SqlError.SqlError | Schema.SchemaError | import("effect").Cause.NoSuchElementError, R>) =>
        Effect.catchTag(self, ["SchemaError", "NoSuchElementError"], (e) => Effect.die(e)) as Effect.Effect<A, SqlError.SqlError, R>

      return EngineFunctions.of({
        createTask: Effect.fn("EngineFunctions.createTask")(function*(params: CreateTaskParams) {
          return yield* orDieOne(createTask(params))
        }, instrumentSql("tasker_create_task", { transaction: true })),
        createTasks: Effect.fn("EngineFunctions.createTasks")(function*(params: CreateTasksParams) {
          const rows = yield* die(createMany(params))
          return [...rows].sort((a, b) => a.ord - b.ord)
        }, instrumentSql("tasker_create_tasks", { transaction: true })),
        evaluateTask: Effect.fn("EngineFunctions.evaluateTask")(function*(
          taskUuid: TaskUuid,
          processorUuid: ProcessorUuid,
          options?: { readonly headers?: Schema.Json; readonly staleAfterSeconds?: number }
        ) {
          const row = yield* die(evaluate({
            taskUuid,
            processorUuid,
            headers: options?.headers ?? {},
            stale: options?.staleAfterSeconds ?? 60
          }))
          return row._tag === "Some" ? row.value : undefined
        }, instrumentSql("tasker_evaluate_task", { transaction: true })),
        processResultMessages: (params) =>
          die(results(params)).pipe(
            instrumentSql("tasker_process_result_messages", { transaction: true }),
            Effect.withSpan("EngineFunctions.processResultMessages")
          ),
        claimStepMessages: (params) =>
          die(claim(params)).pipe(
            instrumentSql("tasker_claim_step_messages", { transaction: true }),
            Effect.withSpan("EngineFunctions.claimStepMessages", { attributes: { queue: params.queue } })
          ),
        submitStepResults: (params) =>
          die(submitBatch(params)).pipe(
            Effect.map((rows) =>
              [...rows].sort((a, b) => a.ord - b.ord).map((row): SubmitOutcome => ({
                ...row,
                task: row.task == null ? undefined : Option.getOrUndefined(decodeTaskRecordJson(row.task))
              }))
            ),
            instrumentSql("tasker_submit_step_results", { transaction: true }),
            Effect.withSpan("EngineFunctions.submitStepResults", { attributes: { results: params.results.length } })
          ),
        releaseStep: Effect.fn("EngineFunctions.releaseStep")(function*(p: ReleaseStepParams) {
          const [row] = yield* sql<{ released: boolean }>`
            SELECT tasker_release_step(${p.queue}::varchar, ${p.msgId}::bigint, ${p.stepUuid}::uuid, ${p.attempts}::integer,
                                       ${p.processorUuid}::uuid, ${p.delaySeconds ?? 0}::double precision,
                                       ${p.claimId}::uuid) AS released`
          return row!.released
        }, instrumentSql("tasker_release_step", { transaction: true })),
        extendClaim: (queue, msgId, claimId, seconds) =>
          sql<{ found: boolean }>`SELECT tasker_set_vt(${queue}::varchar, ${msgId}::bigint, ${seconds}::double precision,
                                                        ${claimId}::uuid) AS found`.pipe(
            Effect.map((rows) => rows[0]?.found === true),
            instrumentSql("tasker_set_vt"),
            Effect.withSpan("EngineFunctions.extendClaim")
          ),
        cancelTask: Effect.fn("EngineFunctions.cancelTask")(function*(
          taskUuid: TaskUuid,
          processorUuid: ProcessorUuid,
          reason: string | null
        ) {
          const row = yield* die(cancel({ taskUuid, processorUuid, reason }))
          return row._tag === "Some" ? row.value : undefined
        }, instrumentSql("tasker_cancel_task", { transaction: true })),
        giveUpBlockedTasks: Effect.fn("EngineFunctions.giveUpBlockedTasks")(function*(
          processorUuid: ProcessorUuid,
          blockedForSeconds: number,
          limit?: number
        ) {
          const rows = yield* sql<{ task_uuid: TaskUuid }>`
            SELECT t AS task_uuid FROM tasker_give_up_blocked_tasks(${processorUuid}::uuid,
              ${blockedForSeconds}::double precision, ${limit ?? 100}::integer) AS t`
          return rows.map((r) => r.task_uuid)
        }, instrumentSql("tasker_give_up_blocked_tasks", { transaction: true })),
        nextRetryAt: sql<{ at: Date | null }>`SELECT tasker_next_retry_at() AS at`.pipe(
          Effect.map((rows) => rows[0]?.at ?? null),
          instrumentSql("tasker_next_retry_at"),
          Effect.withSpan("EngineFunctions.nextRetryAt")
        )
      })
    })
  )
}


