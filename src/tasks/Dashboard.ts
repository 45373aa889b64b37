/**
 * The dashboard's reads and its two dead-letter actions, as typed queries over the engine's own tables (no second
 * bookkeeping): overview statistics, a task's DAG, its steps' transitions (the timeline and the audit trail are
 * derived from them), dead letters (re-drive, discard), one stored template with its task count, and the
 * transitions written since a point in time (the event stream's catch-up). Depends on `SqlClient` only.
 *
 * Costs: the overview counts `tasker_tasks` by state (an index-only scan of its state index), reads the last hour's
 * creations (a primary-key range), the last hour of task and step transitions (BRIN indexes on their `created_at`,
 * migration 0011, keep that to the recent pages), the queues and the running steps through the worker queues'
 * messages; none of it scans the steps or the transitions of every task. On the 100 000-task benchmark dataset it
 * answers in tens of milliseconds (bench `sql-functions`, docs/ui.md). It is computed per request, for a dashboard
 * that asks every few seconds, not per step.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { TaskState, TaskStates } from "../domain/TaskStateMachine.ts"
import { fromConfiguration, TemplateConfiguration } from "../workflow/Workflow.ts"
import { DagEdge, dagStepFields, MinuteCounts, ProcessorStats, QueueStats, StepStats } from "./DashboardRows.ts"

// ---------------------------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------------------------

export interface OverviewStats {
  readonly generatedAt: Date
  readonly tasksByState: Record<string, number>
  readonly tasksPerMinute: ReadonlyArray<typeof MinuteCounts.Type>
  readonly steps: typeof StepStats.Type
  readonly queues: ReadonlyArray<typeof QueueStats.Type>
  readonly processors: ReadonlyArray<typeof ProcessorStats.Type>
}

export const TaskHead = Schema.Struct({
  task_uuid: TaskUuid,
  current_state: TaskState,
  created_at: Schema.Date,
  completed_at: Schema.NullOr(Schema.Date),
  trace_headers: Schema.Json
})
export type TaskHead = typeof TaskHead.Type

export const DagStepRow = Schema.Struct({ ...dagStepFields, created_at: Schema.Date })
export type DagStepRow = typeof DagStepRow.Type

/** A task or step transition with its step's name (null for a task transition). */
export const TransitionRow = Schema.Struct({
  kind: Schema.Literals(["task", "step"]),
  task_uuid: TaskUuid,
  step_uuid: Schema.NullOr(StepUuid),
  step_name: Schema.NullOr(Schema.String),
  sort_key: Schema.Int,
  from_state: Schema.NullOr(Schema.String),
  to_state: Schema.String,
  at: Schema.Date,
  /** `at` in microseconds since the epoch (the event stream's cursor) */
  at_us: Schema.BigInt,
  processor_uuid: Schema.NullOr(Schema.String),
  metadata: Schema.Json
})
export type TransitionRow = typeof TransitionRow.Type

export const DeadLetterRow = Schema.Struct({
  queue: Schema.String,
  msg_id: Schema.BigInt,
  reason: Schema.NullOr(Schema.String),
  archived_at: Schema.Date,
  enqueued_at: Schema.Date,
  read_count: Schema.Int,
  message: Schema.Json
})
export type DeadLetterRow = typeof DeadLetterRow.Type

const StoredTemplateRow = Schema.Struct({
  named_task_uuid: Schema.String,
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String,
  description: Schema.NullOr(Schema.String),
  configuration: Schema.Json,
  created_at: Schema.Date,
  updated_at: Schema.Date,
  task_count: Schema.Int
})

export interface TemplateStep {
  readonly name: string
  readonly description: string | null
  readonly dependsOn: ReadonlyArray<string>
  readonly retryable: boolean
  readonly maxAttempts: number
  readonly backoff: string
  readonly backoffBaseMs: number
  readonly maxBackoffMs: number
  readonly timeoutSeconds: number | null
}

export interface StoredTemplateView {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly description: string | null
  /** null when the stored configuration does not decode */
  readonly steps: ReadonlyArray<TemplateStep> | null
  readonly inputSchema: Schema.Json
  readonly taskCount: number
  readonly createdAt: Date
  readonly updatedAt: Date
}

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

export class DashboardQueries extends Context.Service<DashboardQueries, {
  readonly overview: Effect.Effect<OverviewStats, SqlError.SqlError>
  /** The task's row (state, times, trace context), or none for an unknown task. */
  readonly task: (taskUuid: TaskUuid) => Effect.Effect<Option.Option<TaskHead>, SqlError.SqlError>
  /** The task's steps with their first claim and finish times, and its dependency edges. */
  readonly dag: (taskUuid: TaskUuid) => Effect.Effect<{
    readonly steps: ReadonlyArray<DagStepRow>
    readonly edges: ReadonlyArray<typeof DagEdge.Type>
  }, SqlError.SqlError>
  /** Every transition of the task and its steps, oldest first. */
  readonly transitions: (taskUuid: TaskUuid) => Effect.Effect<ReadonlyArray<TransitionRow>, SqlError.SqlError>
  /**
   * Transitions written at or after `sinceUs` (microseconds since the epoch), oldest first, at most `limit`
   * (of the one task when `taskUuid` is given).
   */
  readonly transitionsSince: (
    sinceUs: bigint,
    limit: number,
    taskUuid?: TaskUuid
  ) => Effect.Effect<ReadonlyArray<TransitionRow>, SqlError.SqlError>
  readonly deadLetters: (
    queue: string | undefined,
    page: { readonly limit: number; readonly offset: number }
  ) => Effect.Effect<{ readonly rows: ReadonlyArray<DeadLetterRow>; readonly total: number }, SqlError.SqlError>
  /**
   * Sends a dead letter again on its queue and deletes it from the archive, in one statement; the new msg_id,
   * or none when there is no such dead letter.
   */
  readonly redrive: (queue: string, msgId: bigint) => Effect.Effect<Option.Option<bigint>, SqlError.SqlError>
  /** Deletes a dead letter; false when there is no such dead letter. */
  readonly discard: (queue: string, msgId: bigint) => Effect.Effect<boolean, SqlError.SqlError>
  readonly template: (
    namespace: string,
    name: string,
    version: string
  ) => Effect.Effect<Option.Option<StoredTemplateView>, SqlError.SqlError>
}>()("tasker/tasks/DashboardQueries") {
  static readonly layer = Layer.effect(
    DashboardQueries,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const byState = SqlSchema.findAll({
        Request: Schema.Void,
        Result: Schema.Struct({ state: Schema.String, n: Schema.Int }),
        execute: () => sql`SELECT current_state AS state, count(*)::int AS n FROM tasker_tasks GROUP BY current_state`
      })
      // Creations from the task uuids (UUIDv7: the primary key is in creation order, so the last hour is a range of
      // it); completions and failures from the task transitions into complete and error (the last hour of them is
      // the end of that append-only table: its BRIN index on created_at). The bounds are written out, not taken from
      // a CTE, so that the planner sees them and uses those indexes.
      const perMinute = SqlSchema.findAll({
        Request: Schema.Void,
        Result: MinuteCounts,
        execute: () =>
          sql`WITH minutes AS (
                SELECT generate_series(date_trunc('minute', now()) - interval '59 minutes', date_trunc('minute', now()),
                                       interval '1 minute') AS minute
              ),
              created AS (
                SELECT date_trunc('minute', t.created_at) AS minute, count(*)::int AS n
                FROM tasker_tasks t
                WHERE t.task_uuid >= tasker_uuid_v7_floor(date_trunc('minute', now()) - interval '60 minutes')
                  AND t.created_at >= date_trunc('minute', now()) - interval '59 minutes'
                GROUP BY 1
              ),
              finished AS (
                SELECT date_trunc('minute', tt.created_at) AS minute,
                       count(*) FILTER (WHERE tt.to_state = 'complete')::int AS completed,
                       count(*) FILTER (WHERE tt.to_state = 'error')::int AS failed
                FROM tasker_task_transitions tt
                WHERE tt.created_at >= date_trunc('minute', now()) - interval '59 minutes'
                  AND tt.to_state IN ('complete', 'error')
                GROUP BY 1
              )
              SELECT m.minute, COALESCE(c.n, 0) AS created, COALESCE(f.completed, 0) AS completed,
                     COALESCE(f.failed, 0) AS failed
              FROM minutes m LEFT JOIN created c ON c.minute = m.minute LEFT JOIN finished f ON f.minute = m.minute
              ORDER BY m.minute`
      })
      // An attempt is a claim (→ in_progress) and the transition that ended it: success into
      // enqueued_for_orchestration or complete, failure into enqueued_as_error_for_orchestration, error or
      // waiting_for_retry; a give-back (→ enqueued) is not counted.
      const stepStats = SqlSchema.findOne({
        Request: Schema.Void,
        Result: StepStats,
        execute: () =>
          sql`WITH attempts AS (
                SELECT e.to_state IN ('enqueued_for_orchestration', 'complete') AS ok,
                       extract(epoch FROM e.created_at - s.created_at)::double precision * 1000 AS ms
                FROM tasker_workflow_step_transitions e
                JOIN tasker_workflow_step_transitions s
                  ON s.workflow_step_uuid = e.workflow_step_uuid AND s.sort_key = e.sort_key - 1
                WHERE e.created_at >= now() - interval '1 hour' AND e.from_state = 'in_progress'
                  AND e.to_state IN ('enqueued_for_orchestration', 'complete', 'enqueued_as_error_for_orchestration',
                                     'error', 'waiting_for_retry')
              )
              SELECT count(*) FILTER (WHERE ok)::int AS completed_last_hour,
                     count(*) FILTER (WHERE NOT ok)::int AS failed_last_hour,
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50_ms,
                     percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms
              FROM attempts`
      })
      const queues = SqlSchema.findAll({
        Request: Schema.Void,
        Result: QueueStats,
        execute: () =>
          sql`SELECT q.queue_name AS queue,
                     (SELECT count(*)::int FROM tasker_queue_messages m WHERE m.queue_name = q.queue_name) AS depth,
                     (SELECT extract(epoch FROM now() - min(m.enqueued_at))::double precision
                      FROM tasker_queue_messages m WHERE m.queue_name = q.queue_name) AS oldest_age_seconds,
                     (SELECT count(*)::int FROM tasker_queue_archive a
                      WHERE a.queue_name = q.queue_name AND a.dead_letter) AS dead_letters
              FROM tasker_queues q ORDER BY q.queue_name`
      })
      // A running step keeps its message in its worker queue until its result is stored (in the same transaction
      // as its move out of in_progress), so the running steps are found from the worker queues' messages — a short
      // table, not the steps of every task — and counted for the processor that made their latest transition (the
      // claim).
      const processors = SqlSchema.findAll({
        Request: Schema.Void,
        Result: ProcessorStats,
        execute: () =>
          sql`WITH running AS (
                SELECT last.processor_uuid, count(*)::int AS n
                FROM tasker_queue_messages m
                JOIN tasker_workflow_steps ws
                  ON ws.workflow_step_uuid = CASE WHEN tasker_is_uuid(m.message ->> 'step_uuid')
                                                  THEN (m.message ->> 'step_uuid')::uuid END
                CROSS JOIN LATERAL (
                  SELECT st.processor_uuid FROM tasker_workflow_step_transitions st
                  WHERE st.workflow_step_uuid = ws.workflow_step_uuid ORDER BY st.sort_key DESC LIMIT 1
                ) last
                WHERE starts_with(m.queue_name, 'worker_') AND m.claim_id IS NOT NULL AND ws.current_state = 'in_progress'
                GROUP BY last.processor_uuid
              )
              SELECT p.processor_uuid::text AS processor_uuid, p.role, p.hostname,
                     GREATEST(extract(epoch FROM now() - p.last_heartbeat_at), 0)::double precision AS heartbeat_age_seconds,
                     COALESCE(r.n, 0) AS running_steps
              FROM tasker_processors p LEFT JOIN running r ON r.processor_uuid = p.processor_uuid
              WHERE p.stopped_at IS NULL AND p.last_heartbeat_at > now() - interval '1 hour'
              ORDER BY p.role, p.started_at`
      })

      const task = SqlSchema.findOneOption({
        Request: TaskUuid,
        Result: TaskHead,
        execute: (taskUuid) =>
          sql`SELECT task_uuid, current_state, created_at, completed_at, trace_headers
              FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
      })
      const dagSteps = SqlSchema.findAll({
        Request: TaskUuid,
        Result: DagStepRow,
        execute: (taskUuid) =>
          sql`SELECT ws.workflow_step_uuid AS step_uuid, ns.name, ws.current_state AS state, ws.attempts,
                     ws.max_attempts, ws.created_at,
                     (SELECT min(st.created_at) FROM tasker_workflow_step_transitions st
                      WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = 'in_progress') AS started_at,
                     CASE WHEN ws.current_state IN ('complete', 'error', 'cancelled', 'resolved_manually') THEN
                       (SELECT max(st.created_at) FROM tasker_workflow_step_transitions st
                        WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = ws.current_state)
                     END AS finished_at
              FROM tasker_workflow_steps ws
              JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
              WHERE ws.task_uuid = ${taskUuid}
              ORDER BY ws.workflow_step_uuid`
      })
      const edges = SqlSchema.findAll({
        Request: TaskUuid,
        Result: DagEdge,
        execute: (taskUuid) =>
          sql`SELECT e.from_step_uuid AS "from", e.to_step_uuid AS "to"
              FROM tasker_workflow_steps ws
              JOIN tasker_workflow_step_edges e ON e.to_step_uuid = ws.workflow_step_uuid
              WHERE ws.task_uuid = ${taskUuid}
              ORDER BY e.from_step_uuid, e.to_step_uuid`
      })

      const transitionColumns = (kind: "task" | "step") =>
        kind === "task"
          ? sql`'task' AS kind, tt.task_uuid, NULL::uuid AS step_uuid, NULL::varchar AS step_name, tt.sort_key,
                tt.from_state, tt.to_state, tt.created_at AS at,
                (extract(epoch FROM tt.created_at) * 1000000)::bigint AS at_us, tt.processor_uuid::text AS processor_uuid,
                tt.metadata`
          : sql`'step' AS kind, ws.task_uuid, st.workflow_step_uuid AS step_uuid, ns.name AS step_name, st.sort_key,
                st.from_state, st.to_state, st.created_at AS at,
                (extract(epoch FROM st.created_at) * 1000000)::bigint AS at_us, st.processor_uuid::text AS processor_uuid,
                st.metadata`
      const transitions = SqlSchema.findAll({
        Request: TaskUuid,
        Result: TransitionRow,
        execute: (taskUuid) =>
          sql`SELECT * FROM (
                SELECT ${transitionColumns("task")} FROM tasker_task_transitions tt WHERE tt.task_uuid = ${taskUuid}
                UNION ALL
                SELECT ${transitionColumns("step")}
                FROM tasker_workflow_steps ws
                JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
                JOIN tasker_workflow_step_transitions st ON st.workflow_step_uuid = ws.workflow_step_uuid
                WHERE ws.task_uuid = ${taskUuid}
              ) x
              ORDER BY x.at, x.kind DESC, x.step_uuid, x.sort_key`
      })
      const SinceRequest = Schema.Struct({
        since: Schema.String,
        limit: Schema.Int,
        taskUuid: Schema.NullOr(Schema.String)
      })
      const transitionsSince = SqlSchema.findAll({
        Request: SinceRequest,
        Result: TransitionRow,
        execute: ({ limit, since, taskUuid }) => {
          const from = sql`to_timestamp(${since}::numeric / 1000000)`
          return sql`SELECT * FROM (
                SELECT ${transitionColumns("task")} FROM tasker_task_transitions tt
                WHERE tt.created_at >= ${from} ${taskUuid === null ? sql`` : sql`AND tt.task_uuid = ${taskUuid}::uuid`}
                UNION ALL
                SELECT ${transitionColumns("step")}
                FROM tasker_workflow_step_transitions st
                JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = st.workflow_step_uuid
                JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
                WHERE st.created_at >= ${from} ${taskUuid === null ? sql`` : sql`AND ws.task_uuid = ${taskUuid}::uuid`}
              ) x
              ORDER BY x.at, x.kind DESC, x.step_uuid, x.sort_key
              LIMIT ${limit}`
        }
      })

      const DeadLetterPage = Schema.Struct({ queue: Schema.NullOr(Schema.String), limit: Schema.Int, offset: Schema.Int })
      const deadLetterPage = SqlSchema.findAll({
        Request: DeadLetterPage,
        Result: DeadLetterRow,
        execute: ({ limit, offset, queue }) =>
          sql`SELECT queue_name AS queue, msg_id, reason, archived_at, enqueued_at, read_ct AS read_count, message
              FROM tasker_queue_archive
              WHERE dead_letter ${queue === null ? sql`` : sql`AND queue_name = ${queue}`}
              ORDER BY archived_at DESC, queue_name, msg_id DESC
              LIMIT ${limit} OFFSET ${offset}`
      })
      const deadLetterCount = SqlSchema.findOne({
        Request: Schema.NullOr(Schema.String),
        Result: Schema.Struct({ n: Schema.Int }),
        execute: (queue) =>
          sql`SELECT count(*)::int AS n FROM tasker_queue_archive
              WHERE dead_letter ${queue === null ? sql`` : sql`AND queue_name = ${queue}`}`
      })
      const MessageKey = Schema.Struct({ queue: Schema.String, msgId: Schema.BigInt })
      // One statement: the archive row goes and the message is sent (tasker_send wakes the queue's consumers on
      // commit), or neither.
      const redrive = SqlSchema.findOneOption({
        Request: MessageKey,
        Result: Schema.Struct({ msg_id: Schema.BigInt }),
        execute: ({ msgId, queue }) =>
          sql`WITH gone AS (
                DELETE FROM tasker_queue_archive
                WHERE queue_name = ${queue} AND msg_id = ${msgId.toString()}::bigint AND dead_letter
                RETURNING message, headers
              )
              SELECT tasker_send(${queue}, g.message, g.headers) AS msg_id FROM gone g`
      })
      const discard = SqlSchema.findOneOption({
        Request: MessageKey,
        Result: Schema.Struct({ msg_id: Schema.BigInt }),
        execute: ({ msgId, queue }) =>
          sql`DELETE FROM tasker_queue_archive
              WHERE queue_name = ${queue} AND msg_id = ${msgId.toString()}::bigint AND dead_letter
              RETURNING msg_id`
      })
      const storedTemplate = SqlSchema.findOneOption({
        Request: Schema.Struct({ namespace: Schema.String, name: Schema.String, version: Schema.String }),
        Result: StoredTemplateRow,
        execute: ({ name, namespace, version }) =>
          sql`SELECT nt.named_task_uuid::text AS named_task_uuid, ns.name AS namespace, nt.name, nt.version,
                     nt.description, nt.configuration, nt.created_at, nt.updated_at,
                     (SELECT count(*)::int FROM tasker_tasks t WHERE t.named_task_uuid = nt.named_task_uuid) AS task_count
              FROM tasker_named_tasks nt
              JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
              WHERE ns.name = ${namespace} AND nt.name = ${name} AND nt.version = ${version}`
      })
      const decodeConfiguration = Schema.decodeUnknownOption(TemplateConfiguration)

      // a row that does not decode is a bug here or in a migration, not an error of the caller
      const rows = <A, R>(
        self: Effect.Effect<A, SqlError.SqlError | Schema.SchemaError | import("effect/Cause").NoSuchElementError, R>
      ) =>
        Effect.catchTags(self, {
          SchemaError: (e) => Effect.die(e),
          NoSuchElementError: (e) => Effect.die(e)
        }) as Effect.Effect<A, SqlError.SqlError, R>

      /**
       * `self` without parallel workers (in a transaction of its own): the planner expects a BRIN range of the
       * transitions to hold far more rows than the last hour's few thousand, and the workers it starts for them cost
       * more than they save (on the benchmark dataset 120 ms with two workers, 45 ms without) — for a dashboard that
       * asks every few seconds, and on every core they take from the engine.
       */
      const serial = <A, E, R>(self: Effect.Effect<A, E, R>) =>
        sql.withTransaction(Effect.andThen(sql`SET LOCAL max_parallel_workers_per_gather = 0`, self))

      return DashboardQueries.of({
        overview: Effect.gen(function*() {
          const [states, minutes, steps, queueRows, processorRows] = yield* Effect.all([
            byState(undefined),
            perMinute(undefined),
            serial(stepStats(undefined)),
            queues(undefined),
            processors(undefined)
          ], { concurrency: 5 })
          const tasksByState: Record<string, number> = Object.fromEntries(TaskStates.map((s) => [s, 0]))
          for (const row of states) tasksByState[row.state] = row.n
          return {
            generatedAt: new Date(),
            tasksByState,
            tasksPerMinute: minutes,
            steps,
            queues: queueRows,
            processors: processorRows
          } satisfies OverviewStats
        }).pipe(rows, Effect.withSpan("DashboardQueries.overview")),
        task: (taskUuid) => rows(task(taskUuid)),
        dag: Effect.fn("DashboardQueries.dag")(function*(taskUuid: TaskUuid) {
          const [steps, edgeRows] = yield* rows(Effect.all([dagSteps(taskUuid), edges(taskUuid)], { concurrency: 2 }))
          return { steps, edges: edgeRows }
        }),
        transitions: (taskUuid) => rows(transitions(taskUuid)),
        transitionsSince: (sinceUs, limit, taskUuid) =>
          rows(transitionsSince({ since: sinceUs.toString(), limit, taskUuid: taskUuid ?? null })),
        deadLetters: Effect.fn("DashboardQueries.deadLetters")(function*(
          queue: string | undefined,
          page: { readonly limit: number; readonly offset: number }
        ) {
          const [pageRows, count] = yield* rows(Effect.all([
            deadLetterPage({ queue: queue ?? null, limit: page.limit, offset: page.offset }),
            deadLetterCount(queue ?? null)
          ], { concurrency: 2 }))
          return { rows: pageRows, total: count.n }
        }),
        redrive: (queue, msgId) =>
          rows(redrive({ queue, msgId })).pipe(
            Effect.map(Option.map((r) => r.msg_id)),
            sql.withTransaction,
            Effect.withSpan("DashboardQueries.redrive")
          ),
        discard: (queue, msgId) => rows(discard({ queue, msgId })).pipe(Effect.map(Option.isSome)),
        template: Effect.fn("DashboardQueries.template")(function*(namespace: string, name: string, version: string) {
          const row = yield* rows(storedTemplate({ namespace, name, version }))
          if (Option.isNone(row)) return Option.none()
          const r = row.value
          const configuration = decodeConfiguration(r.configuration)
          const definition = Option.flatMap(configuration, (c) => {
            try {
              return Option.some(fromConfiguration(c))
            } catch {
              return Option.none()
            }
          })
          return Option.some({
            namespace: r.namespace,
            name: r.name,
            version: r.version,
            description: r.description,
            steps: Option.match(definition, {
              onNone: () => null,
              onSome: (d) =>
                d.steps.map((step): TemplateStep => ({
                  name: step.name,
                  description: step.description ?? null,
                  dependsOn: [...step.dependsOn],
                  retryable: step.retry.retryable,
                  maxAttempts: step.retry.maxAttempts,
                  backoff: step.retry.backoff,
                  backoffBaseMs: step.retry.backoffBaseMs,
                  maxBackoffMs: step.retry.maxBackoffMs,
                  timeoutSeconds: step.timeoutSeconds ?? null
                }))
            }),
            inputSchema: Option.match(configuration, {
              onNone: () => null,
              onSome: (c) => (c.input_schema ?? null) as Schema.Json
            }),
            taskCount: r.task_count,
            createdAt: r.created_at,
            updatedAt: r.updated_at
          } satisfies StoredTemplateView)
        })
      })
    })
  )
}
