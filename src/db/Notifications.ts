/**
 * Where notifications come from: a database-specific source of the payloads sent with `pg_notify` on a channel.
 * The database layers provide it (`layers/postgres.ts`: a LISTEN connection; `layers/embedded.ts`: PGlite's own
 * listen API, `PgliteClient.notificationSourceLayer`), so the engine's wake-ups work the same on both.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Queue, type Scope } from "effect"
import type { SqlError } from "effect/sql"

export class NotificationSource extends Context.Service<NotificationSource, {
  /**
   * Listens on `channel` for the lifetime of the scope. The queue fails when the connection is lost (the caller
   * reconnects by listening again).
   */
  readonly listen: (channel: string) => Effect.Effect<Queue.Dequeue<string, SqlError.SqlError>, SqlError.SqlError, Scope.Scope>
}>()("tasker/db/NotificationSource") {
  /** LISTEN on a dedicated PostgreSQL connection (one per channel and listener). */
  static readonly layerPostgres = Layer.effect(
    NotificationSource,
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      return NotificationSource.of({
        listen: (channel) =>
          Effect.gen(function*() {
            const notifications = yield* pg.listen(channel)
            const payloads = yield* Queue.unbounded<string, SqlError.SqlError>()
            yield* Queue.take(notifications).pipe(
              Effect.flatMap((n) => Queue.offer(payloads, n.payload)),
              Effect.forever,
              Effect.catchCause((cause) => Queue.failCause(payloads, cause)),
              Effect.forkScoped
            )
            return payloads
          })
      })
    })
  )
}
