/**
 * The operator audit trail (`tasker_audit_events`, migration 0010): one row per operator action — a task
 * cancelled, a step retried or resolved, a key created or revoked — with the acting key's id (never its secret),
 * the client address and the request's correlation. `GET /v1/audit` reads it.
 */
import { Context, Effect, Layer } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/** Who performed an operator action. */
export interface Actor {
  /** a key id; `bootstrap` (TASKER_API_TOKEN), `anonymous` (authentication off) or `cli` (tasker keys) */
  readonly keyId: string
  readonly clientAddress?: string | undefined
  readonly correlationId?: string | undefined
}

export interface AuditEvent {
  readonly action: string
  readonly actor: Actor
  readonly taskUuid?: string | undefined
  readonly stepUuid?: string | undefined
  readonly details?: Record<string, unknown> | undefined
}

export interface AuditEntry {
  readonly audit_id: number
  readonly occurred_at: Date
  readonly action: string
  readonly key_id: string
  readonly client_address: string | null
  readonly correlation_id: string | null
  readonly task_uuid: string | null
  readonly step_uuid: string | null
  readonly details: Record<string, unknown>
}

export interface AuditFilter {
  readonly taskUuid?: string | undefined
  readonly keyId?: string | undefined
  readonly action?: string | undefined
  readonly since?: Date | undefined
}

/** The fields of an operator action recorded in a transition's metadata. */
export const actorMetadata = (actor: Actor) => ({
  operator: {
    key_id: actor.keyId,
    ...(actor.clientAddress === undefined ? {} : { client_address: actor.clientAddress }),
    ...(actor.correlationId === undefined ? {} : { correlation_id: actor.correlationId })
  }
})

/** Inserts an audit row with `sql` (in the caller's transaction, if any). */
export const insertAuditEvent = (sql: SqlClient.SqlClient, event: AuditEvent) =>
  sql`
    INSERT INTO tasker_audit_events (action, key_id, client_address, correlation_id, task_uuid, step_uuid, details)
    VALUES (${event.action}, ${event.actor.keyId}, ${event.actor.clientAddress ?? null}::varchar,
            ${event.actor.correlationId ?? null}::varchar, ${event.taskUuid ?? null}::uuid,
            ${event.stepUuid ?? null}::uuid, ${JSON.stringify(event.details ?? {})}::jsonb)`.pipe(Effect.asVoid)

export class AuditTrail extends Context.Service<AuditTrail, {
  /** Records an action (in the caller's transaction, if any). */
  readonly record: (event: AuditEvent) => Effect.Effect<void, SqlError.SqlError>
  /** Newest first, filtered, one page; `totalCount` counts every match. */
  readonly list: (
    filter: AuditFilter,
    page: { readonly page: number; readonly perPage: number }
  ) => Effect.Effect<{ readonly entries: ReadonlyArray<AuditEntry>; readonly totalCount: number }, SqlError.SqlError>
}>()("tasker/db/AuditTrail") {
  static readonly layer = Layer.effect(
    AuditTrail,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return AuditTrail.of({
        record: Effect.fn("AuditTrail.record")(function*(event: AuditEvent) {
          yield* insertAuditEvent(sql, event)
        }),
        list: Effect.fn("AuditTrail.list")(function*(filter: AuditFilter, page: { readonly page: number; readonly perPage: number }) {
          // every filter is a parameter; an absent one (NULL) matches everything
          const where = sql`
            WHERE (${filter.taskUuid ?? null}::uuid IS NULL OR task_uuid = ${filter.taskUuid ?? null}::uuid)
              AND (${filter.keyId ?? null}::varchar IS NULL OR key_id = ${filter.keyId ?? null}::varchar)
              AND (${filter.action ?? null}::varchar IS NULL OR action = ${filter.action ?? null}::varchar)
              AND (${filter.since ?? null}::timestamptz IS NULL OR occurred_at >= ${filter.since ?? null}::timestamptz)`
          const rows = yield* sql<AuditEntry & { total_count: number }>`
            SELECT audit_id::float8 AS audit_id, occurred_at, action, key_id, client_address, correlation_id,
                   task_uuid, step_uuid, details, count(*) OVER ()::int AS total_count
            FROM tasker_audit_events ${where}
            ORDER BY audit_id DESC
            LIMIT ${page.perPage} OFFSET ${(page.page - 1) * page.perPage}`
          const totalCount = rows[0]?.total_count ?? (yield* sql<{ n: number }>`
            SELECT count(*)::int AS n FROM tasker_audit_events ${where}`)[0]!.n
          return {
            entries: rows.map(({ total_count: _, ...entry }) => ({ ...entry, audit_id: Number(entry.audit_id) })),
            totalCount
          }
        })
      })
    })
  )
}
