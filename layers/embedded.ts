/**
 * Embedded PostgreSQL: the whole engine on an in-process PGlite database (PostgreSQL in WASM), no database
 * server. A drop-in replacement for `postgresLayer` under `engineLayer`: `SqlClient` (also as `PgliteClient`),
 * the same migrations applied on start-up unless turned off, the data-layer services, and a `NotificationSource`
 * backed by PGlite's own LISTEN API.
 *
 * ```ts
 * import { embeddedLayerFromEnv } from "tasker-effect/embedded"      // TASKER_EMBEDDED_DATA_DIR from the environment
 * const DbLayer = embeddedLayer()                                    // in memory
 * const Persistent = embeddedLayer({ dataDir: "./.tasker-data" })    // kept on disk between runs
 * const Engine = engineLayer({ templates: [Greeting] }).pipe(Layer.provideMerge(DbLayer))
 * ```
 *
 * PGlite is a single session: statements of the engine's fibers take turns, and a transaction keeps the others
 * out until it ends. One process owns a data directory at a time: the layer locks it (the file `tasker.lock` in it,
 * with the owner's PID and host) and fails with `DataDirLocked` while another live process holds it; a lock left by
 * a process that died is taken over. PGlite runs PostgreSQL with fsync off, so a persistent database survives a
 * clean shutdown (the layer closes it and releases the lock when released), not necessarily a crash.
 */
import { Config, Duration, Effect, Layer, Option } from "effect"
import { DataServicesLayer } from "../src/db/DataServices.ts"
import { vacuumLayer } from "../src/db/Maintenance.ts"
import { MigrationsLayer } from "../src/db/Migrations.ts"
import * as PgliteClient from "../src/db/PgliteClient.ts"

export interface EmbeddedOptions {
  /** a directory to keep the database in (created on first use; locked while open); in memory when absent */
  readonly dataDir?: string | undefined
  /** apply pending migrations when the layer is built (default true) */
  readonly autoMigrate?: boolean | undefined
  /** session settings on top of the defaults (`plan_cache_mode = force_generic_plan`) */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** PGlite's debug level (0-5) */
  readonly debug?: 0 | 1 | 2 | 3 | 4 | 5 | undefined
  /**
   * how often the engine's tables are vacuumed and analyzed (default 1 minute; `false`: never). PGlite runs
   * PostgreSQL in single-user mode, without autovacuum, so the dead rows the queues and transitions leave behind
   * are only removed by this.
   */
  readonly vacuumInterval?: Duration.Input | false | undefined
}

/** The settings the PostgreSQL layer sets at connection start-up, for the one embedded session. */
const defaultSettings: Readonly<Record<string, string>> = {
  // as on the server: the engine's statements are key lookups, generic plans avoid re-planning them
  plan_cache_mode: "force_generic_plan"
}

/** `PgliteClient` + `SqlClient` for an embedded database, migrated when `autoMigrate` is on. */
export const embeddedSqlLayer = (options: EmbeddedOptions = {}) => {
  const client = PgliteClient.layer({
    dataDir: options.dataDir,
    debug: options.debug,
    settings: { ...defaultSettings, ...options.settings }
  })
  return options.autoMigrate === false ? client : MigrationsLayer.pipe(Layer.provideMerge(client))
}

/**
 * The data layer on an embedded database: SQL client, SQL function services, transitions, processors, the
 * notification source the engine's wake-ups use, and the periodic vacuum.
 */
export const embeddedLayer = (options: EmbeddedOptions = {}) =>
  Layer.mergeAll(
    DataServicesLayer,
    PgliteClient.notificationSourceLayer,
    options.vacuumInterval === false ? Layer.empty : vacuumLayer(options.vacuumInterval ?? Duration.minutes(1))
  ).pipe(Layer.provideMerge(embeddedSqlLayer(options)))

/**
 * `embeddedLayer` configured from the environment: `TASKER_EMBEDDED_DATA_DIR` (optional; in memory without it),
 * `TASKER_AUTO_MIGRATE` (default true).
 */
export const embeddedLayerFromEnv = Layer.unwrap(
  Effect.gen(function*() {
    const dataDir = yield* Config.String("TASKER_EMBEDDED_DATA_DIR").pipe(Config.option)
    const autoMigrate = yield* Config.Boolean("TASKER_AUTO_MIGRATE").pipe(Config.withDefault(true))
    return embeddedLayer({ dataDir: Option.getOrUndefined(dataDir), autoMigrate })
  })
)
