/**
 * Paginated task listing: a page of tasks, newest first (task uuids are UUIDv7, so uuid order is creation
 * order), filtered by namespace, template name, state, correlation ids, creation time, tag or a task/correlation
 * id (`q`), with the total count of matches.
 * Contexts are left out unless asked for, and then carried only up to a byte budget per page (a page of large
 * contexts would otherwise cost the database, the process and the client its full size). Depends on `SqlClient`
 * only; both queries are typed with `SqlSchema`.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { TaskState } from "../domain/TaskStateMachine.ts"
import { TaskSummary } from "../domain/TaskRecord.ts"
import { fromTasks, taskColumnsAfterContext } from "./TaskQueries.ts"

/** Filters of a listing; an absent filter matches everything. */
export interface TaskListFilter {
  readonly namespace?: string | undefined
  readonly name?: string | undefined
  readonly status?: TaskState | undefined
  readonly correlationId?: string | undefined
  readonly parentCorrelationId?: string | undefined
  /** created at or after (ISO 8601): the creation time in the task's UUIDv7, to the millisecond */
  readonly createdAfter?: string | undefined
  /** created before (ISO 8601), likewise */
  readonly createdBefore?: string | undefined
  /** tasks whose tags include this one */
  readonly tag?: string | undefined
  /** a task uuid or a correlation id: the task with that uuid, or the tasks of that correlation */
  readonly q?: string | undefined
}

/** Whether a page carries the tasks' contexts, and how many bytes of context (as JSON text) at most. */
export interface ContextInclusion {
  /** the page's contexts in list order, until their total size would exceed `budgetBytes` */
  readonly include: boolean
  readonly budgetBytes: number
}

export interface TaskPage {
  /** without `context` unless it was asked for; `context_omitted` on those that did not fit the budget */
  readonly tasks: ReadonlyArray<TaskSummary>
  /** matching tasks on all pages */
  readonly totalCount: number
}

const Filter = Schema.Struct({
  namespace: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  status: Schema.NullOr(TaskState),
  correlationId: Schema.NullOr(Schema.String),
  parentCorrelationId: Schema.NullOr(Schema.String),
  createdAfter: Schema.NullOr(Schema.String),
  createdBefore: Schema.NullOr(Schema.String),
  tag: Schema.NullOr(Schema.String),
  q: Schema.NullOr(Schema.String)
})
type Filter = typeof Filter.Type

const PageRequest = Schema.Struct({ filter: Filter, limit: Schema.Int, offset: Schema.Int })
const ContextPageRequest = Schema.Struct({ ...PageRequest.fields, budget: Schema.Number })

/** A listed row with its context, or null and `context_omitted` once the budget is spent. */
const { context: _context, context_omitted: _omitted, ...summaryFields } = TaskSummary.fields
const SummaryRow = Schema.Struct(summaryFields)
const SummaryWithContextRow = Schema.Struct({
  ...summaryFields,
  context: Schema.NullOr(Schema.Json),
  context_omitted: Schema.Boolean
})

/** A listed row as the listing answers it: its context, or `context_omitted` (no context key) past the budget. */
const withContextOrMark = (row: typeof SummaryWithContextRow.Type): TaskSummary => {
  const { context, context_omitted, ...fields } = row
  return context_omitted ? { ...fields, context_omitted: true } : { ...fields, context }
}

export class TaskListing extends Context.Service<TaskListing, {
  /** Tasks on page `page` (from 1) of `perPage`, newest first, and the total count of matching tasks. */
  readonly list: (
    filter: TaskListFilter,
    pagination: { readonly page: number; readonly perPage: number },
    contexts?: ContextInclusion
  ) => Effect.Effect<TaskPage, SqlError.SqlError>
}>()("tasker/tasks/TaskListing") {
  static readonly layer = Layer.effect(
    TaskListing,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      // Only the filters given become conditions, so each combination gets a plan that can use its index.
      const where = (f: Filter) =>
        sql.and([
          ...(f.namespace === null ? [] : [sql`ns.name = ${f.namespace}`]),
          ...(f.name === null ? [] : [sql`nt.name = ${f.name}`]),
          ...(f.status === null ? [] : [sql`t.current_state = ${f.status}`]),
          ...(f.correlationId === null ? [] : [sql`t.correlation_id = ${f.correlationId}::uuid`]),
          ...(f.parentCorrelationId === null ? [] : [sql`t.parent_correlation_id = ${f.parentCorrelationId}::uuid`]),
          // creation time ranges are primary-key ranges (UUIDv7), migrations/0011_dashboard.sql
          ...(f.createdAfter === null ? [] : [sql`t.task_uuid >= tasker_uuid_v7_floor(${f.createdAfter}::timestamptz)`]),
          ...(f.createdBefore === null ? [] : [sql`t.task_uuid < tasker_uuid_v7_floor(${f.createdBefore}::timestamptz)`]),
          // matches idx_tasker_tasks_tags, which holds only tasks with tags
          ...(f.tag === null ? [] : [sql`t.tags @> jsonb_build_array(${f.tag}::text) AND t.tags <> '[]'::jsonb`]),
          ...(f.q === null ? [] : [sql`(t.task_uuid = ${f.q}::uuid OR t.correlation_id = ${f.q}::uuid)`])
        ])

      const pageWhere = (filter: Filter, limit: number, offset: number) =>
        sql`${fromTasks(sql)}
            WHERE ${where(filter)}
            ORDER BY t.task_uuid DESC
            LIMIT ${limit} OFFSET ${offset}`
      const summaryColumns = sql`t.task_uuid, ns.name AS namespace, nt.name, nt.version,
                                 t.current_state AS status, t.complete, ${taskColumnsAfterContext(sql)}`

      const page = SqlSchema.findAll({
        Request: PageRequest,
        Result: SummaryRow,
        execute: ({ filter, limit, offset }) => sql`SELECT ${summaryColumns} ${pageWhere(filter, limit, offset)}`
      })
      // The page first (LIMIT), then the running total of its contexts' sizes in list order: a context is
      // fetched only while the total stays within the budget, so an over-budget context never leaves the server.
      const pageWithContexts = SqlSchema.findAll({
        Request: ContextPageRequest,
        Result: SummaryWithContextRow,
        execute: ({ budget, filter, limit, offset }) =>
          sql`SELECT p.*,
                     CASE WHEN p.context_running_bytes <= ${budget} THEN c.context END AS context,
                     p.context_running_bytes > ${budget} AS context_omitted
              FROM (SELECT q.*, sum(q.context_bytes) OVER (ORDER BY q.task_uuid DESC) AS context_running_bytes
                    FROM (SELECT ${summaryColumns}, t.context_bytes
                          ${pageWhere(filter, limit, offset)}) q) p
              JOIN tasker_tasks c ON c.task_uuid = p.task_uuid
              ORDER BY p.task_uuid DESC`
      })
      const count = SqlSchema.findOne({
        Request: Filter,
        Result: Schema.Struct({ total: Schema.Int }),
        execute: (filter) =>
          sql`SELECT count(*)::int AS total ${fromTasks(sql)} WHERE ${where(filter)}`
      })

      const list = Effect.fn("TaskListing.list")(function*(
        filter: TaskListFilter,
        pagination: { readonly page: number; readonly perPage: number },
        contexts: ContextInclusion = { include: false, budgetBytes: 0 }
      ) {
        const f: Filter = {
          namespace: filter.namespace ?? null,
          name: filter.name ?? null,
          status: filter.status ?? null,
          correlationId: filter.correlationId ?? null,
          parentCorrelationId: filter.parentCorrelationId ?? null,
          createdAfter: filter.createdAfter ?? null,
          createdBefore: filter.createdBefore ?? null,
          tag: filter.tag ?? null,
          q: filter.q ?? null
        }
        const perPage = Math.max(1, Math.trunc(pagination.perPage))
        const offset = (Math.max(1, Math.trunc(pagination.page)) - 1) * perPage
        const rows: Effect.Effect<ReadonlyArray<TaskSummary>, SqlError.SqlError | Schema.SchemaError> = contexts.include
          ? Effect.map(
            pageWithContexts({ filter: f, limit: perPage, offset, budget: contexts.budgetBytes }),
            (rows) => rows.map(withContextOrMark)
          )
          : page({ filter: f, limit: perPage, offset })
        const [tasks, total] = yield* Effect.all([rows, count(f)], { concurrency: 2 })
        return { tasks, totalCount: total.total } satisfies TaskPage
      }, (effect) =>
        // a row that does not decode is a bug here or in a migration, not an error of the caller
        Effect.catchTags(effect, {
          SchemaError: (e) => Effect.die(e),
          NoSuchElementError: (e) => Effect.die(e)
        }))

      return TaskListing.of({ list })
    })
  )
}
