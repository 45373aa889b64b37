/**
 * PostgreSQL: a `PgClient` pool (also provided as `SqlClient`), migrations applied on start-up unless turned
 * off, and the data-layer services on top.
 *
 * ```ts
 * import { postgresLayerFromEnv } from "tasker-effect/postgres"          // DATABASE_URL from the environment
 * const DbLayer = postgresLayer({ url: "postgres://localhost/tasker" })  // or explicit options
 * ```
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Redacted } from "effect"
import { connectionUser } from "../src/db/ConnectionUser.ts"
import { DataServicesLayer } from "../src/db/DataServices.ts"
import { NotificationSource } from "../src/db/Notifications.ts"
import { MigrationsLayer } from "../src/db/Migrations.ts"

export interface PostgresOptions {
  /** a `postgres://` connection URL; without a user in it, `PGUSER` or the operating-system user (as libpq) */
  readonly url: string | Redacted.Redacted<string>
  /** pool size (default 10) */
  readonly maxConnections?: number | undefined
  /** apply pending migrations when the layer is built (default true) */
  readonly autoMigrate?: boolean | undefined
  readonly applicationName?: string | undefined
  /**
   * Let the engine's progress transactions commit asynchronously (default true): the SQL functions that call
   * `tasker_apply_commit_mode` set `synchronous_commit = off` for their own transaction. They are the worker's step
   * claims, result submissions (including inline result processing), the orchestrator's result processing, step
   * releases (shutdown, or a worker without the step's handler) and the give-up loop. The readiness loop's claims
   * and evaluations, task creation and operator actions always commit synchronously. A crash of the database
   * server can undo the last moments of asynchronous progress, which the engine redoes (messages come back,
   * handlers may run again), except that an undone result or release on a step's last attempt (or of a step that
   * is not retryable) ends the step in `error` with `WorkerLost`. See docs/engine.md ("Commit mode").
   */
  readonly asyncCommit?: boolean | undefined
}

/**
 * `PgClient` + `SqlClient` for the given database, migrated when `autoMigrate` is on. A URL without a user connects
 * as `PGUSER`, else as the operating-system user, as libpq does (`connectionUser`).
 */
export const postgresSqlLayer = (options: PostgresOptions) => {
  const client = Layer.unwrap(Effect.map(connectionUser(options.url), (username) =>
    PgClient.layer({
      url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
      username,
      maxConnections: options.maxConnections ?? 10,
      applicationName: options.applicationName ?? "tasker-effect",
      startupParameters: {
        "tasker.async_commit": options.asyncCommit === false ? "off" : "on",
        plan_cache_mode: "force_generic_plan"
      }
    })))
  return options.autoMigrate === false ? client : MigrationsLayer.pipe(Layer.provideMerge(client))
}

/**
 * The data layer on PostgreSQL: SQL clients, SQL function services, transitions, processors and the notification
 * source (LISTEN) the engine's wake-ups use.
 */
export const postgresLayer = (options: PostgresOptions) =>
  Layer.mergeAll(DataServicesLayer, NotificationSource.layerPostgres).pipe(Layer.provideMerge(postgresSqlLayer(options)))

/**
 * `postgresLayer` configured from the environment: `DATABASE_URL` (required), `TASKER_DB_MAX_CONNECTIONS`
 * (default 10), `TASKER_AUTO_MIGRATE` (default true), `TASKER_ASYNC_COMMIT` (default true).
 */
export const postgresLayerFromEnv = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.Redacted("DATABASE_URL")
    const maxConnections = yield* Config.Int("TASKER_DB_MAX_CONNECTIONS").pipe(Config.withDefault(10))
    const autoMigrate = yield* Config.Boolean("TASKER_AUTO_MIGRATE").pipe(Config.withDefault(true))
    const asyncCommit = yield* Config.Boolean("TASKER_ASYNC_COMMIT").pipe(Config.withDefault(true))
    return postgresLayer({ url, maxConnections, autoMigrate, asyncCommit })
  })
)
