/**
 * Table maintenance for the embedded database. PGlite runs PostgreSQL in single-user mode, without autovacuum, so
 * the dead rows the queues and transitions leave behind are only removed (and the planner's statistics only
 * refreshed) by vacuuming them here; on a PostgreSQL server autovacuum does this.
 */
import { Duration, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

/** `VACUUM (ANALYZE)` of the engine's tables (`tasker_*`; a partitioned table covers its partitions). */
export const vacuumEngineTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql<{ name: string }>`
    SELECT quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND starts_with(c.relname, 'tasker_')
    ORDER BY c.relname`
  if (tables.length > 0) yield* sql.unsafe(`VACUUM (ANALYZE) ${tables.map((t) => t.name).join(", ")}`).unprepared
})

/** Vacuums the engine's tables every `interval` while the layer lives (autovacuum's job on a server). */
export const vacuumLayer = (interval: Duration.Input): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effectDiscard(
    vacuumEngineTables.pipe(
      Effect.catchCause((cause) => Effect.logWarning("embedded database: VACUUM failed", cause)),
      Effect.delay(interval),
      Effect.forever,
      Effect.forkScoped
    )
  )
