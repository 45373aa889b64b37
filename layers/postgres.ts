/**
 * PostgreSQL: a `PgClient` pool (also provided as `SqlClient`), migrations applied on start-up unless turned
 * off, and the data-layer services on top.
 *
 * ```ts
 * import { PostgresLayer } from "tasker-effect/layers/postgres"          // DATABASE_URL from the environment
 * const DbLayer = postgresLayer({ url: "postgres://localhost/tasker" })  // or explicit options
 * ```
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Redacted } from "effect"
import { DataServicesLayer } from "../src/db/DataServices.ts"
import { NotificationSource } from "../src/messaging/Notifications.ts"
import { MigrationsLayer } from "../src/db/Migrations.ts"

export interface PostgresOptions {
  /** a `postgres://` connection URL */
  readonly url: string | Redacted.Redacted<string>
  /** pool size (default 10) */
  readonly maxConnections?: number | undefined
  /** apply pending migrations when the layer is built (default true) */
  readonly autoMigrate?: boolean | undefined
  readonly applicationName?: string | undefined
  /**
   * Let engine progress (claims, results, evaluations) commit asynchronously (`synchronous_commit = off` for those
   * transactions only; default true). A database crash may then undo the last moments of progress, which the
   * engine redoes; task creation and operator actions always commit synchronously. See docs/reliability.md.
   */
  readonly asyncCommit?: boolean | undefined
}

/** `PgClient` + `SqlClient` for the given database, migrated when `autoMigrate` is on. */
export const postgresSqlLayer = (options: PostgresOptions) => {
  const client = PgClient.layer({
    url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
    maxConnections: options.maxConnections ?? 10,
    applicationName: options.applicationName ?? "tasker-effect",
    startupParameters: { "tasker.async_commit": options.asyncCommit === false ? "off" : "on", plan_cache_mode: "force_generic_plan" }
  })
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
export const PostgresLayer = Layer.unwrap(
  Effect.gen(function*() {
    const url = yield* Config.Redacted("DATABASE_URL")
    const maxConnections = yield* Config.Int("TASKER_DB_MAX_CONNECTIONS").pipe(Config.withDefault(10))
    const autoMigrate = yield* Config.Boolean("TASKER_AUTO_MIGRATE").pipe(Config.withDefault(true))
    const asyncCommit = yield* Config.Boolean("TASKER_ASYNC_COMMIT").pipe(Config.withDefault(true))
    return postgresLayer({ url, maxConnections, autoMigrate, asyncCommit })
  })
)
