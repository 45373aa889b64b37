/**
 * Paginated task listing: a page of tasks, newest first (task uuids are UUIDv7, so uuid order is creation
 * order), filtered by namespace, template name, state and correlation ids, with the total count of matches.
 * Depends on `SqlClient` only; both queries are typed with `SqlSchema`.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { TaskState } from "../domain/TaskStateMachine.ts"
import { selectTaskRows, TaskRow } from "./TaskQueries.ts"

/** Filters of a listing; an absent filter matches everything. */
export interface TaskListFilter {
  readonly namespace?: string | undefined
  readonly name?: string | undefined
  readonly status?: TaskState | undefined
  readonly correlationId?: string | undefined
  readonly parentCorrelationId?: string | undefined
}

export interface TaskPage {
  readonly tasks: ReadonlyArray<TaskRow>
  /** matching tasks on all pages */
  readonly totalCount: number
}

const Filter = Schema.Struct({
  namespace: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  status: Schema.NullOr(TaskState),
  correlationId: Schema.NullOr(Schema.String),
  parentCorrelationId: Schema.NullOr(Schema.String)
})
type Filter = typeof Filter.Type

const PageRequest = Schema.Struct({ filter: Filter, limit: Schema.Int, offset: Schema.Int })

export class TaskListing extends Context.Service<TaskListing, {
  /** Tasks on page `page` (from 1) of `perPage`, newest first, and the total count of matching tasks. */
  readonly list: (
    filter: TaskListFilter,
    pagination: { readonly page: number; readonly perPage: number }
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
          ...(f.parentCorrelationId === null ? [] : [sql`t.parent_correlation_id = ${f.parentCorrelationId}::uuid`])
        ])

      const page = SqlSchema.findAll({
        Request: PageRequest,
        Result: TaskRow,
        execute: ({ filter, limit, offset }) =>
          sql`${selectTaskRows(sql)}
              WHERE ${where(filter)}
              ORDER BY t.task_uuid DESC
              LIMIT ${limit} OFFSET ${offset}`
      })
      const count = SqlSchema.findOne({
        Request: Filter,
        Result: Schema.Struct({ total: Schema.Int }),
        execute: (filter) =>
          sql`SELECT count(*)::int AS total
              FROM tasker_tasks t
              JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
              JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
              WHERE ${where(filter)}`
      })

      const list = Effect.fn("TaskListing.list")(function*(
        filter: TaskListFilter,
        pagination: { readonly page: number; readonly perPage: number }
      ) {
        const f: Filter = {
          namespace: filter.namespace ?? null,
          name: filter.name ?? null,
          status: filter.status ?? null,
          correlationId: filter.correlationId ?? null,
          parentCorrelationId: filter.parentCorrelationId ?? null
        }
        const perPage = Math.max(1, Math.trunc(pagination.perPage))
        const offset = (Math.max(1, Math.trunc(pagination.page)) - 1) * perPage
        const [tasks, total] = yield* Effect.all([
          page({ filter: f, limit: perPage, offset }),
          count(f)
        ], { concurrency: 2 })
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
