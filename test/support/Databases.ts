/**
 * The two databases the engine runs on, as the shared suites (`test/support/suites/`) take them: PostgreSQL (a
 * fresh database on the test server, TestDatabase.ts) and PGlite (a fresh in-memory database). A suite body is
 * written once and run against each: `readinessSuite(postgres)` in `test/db`, `readinessSuite(pglite)` in
 * `test/embedded`.
 */
import { Effect, Layer, type Scope } from "effect"
import { embeddedLayer } from "../../layers/embedded.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import { freshDatabase, TestDatabaseLayer } from "./TestDatabase.ts"

/** What both data layers provide: `SqlClient`, the SQL function services, transitions, processors, notifications. */
export type DatabaseServices = Extract<
  Layer.Success<typeof TestDatabaseLayer>,
  Layer.Success<ReturnType<typeof embeddedLayer>>
>

export interface DatabaseUnderTest {
  /** "PostgreSQL" or "PGlite", for suite names */
  readonly name: string
  /** the data layer over a fresh, migrated database: every build is a database of its own */
  readonly layer: Layer.Layer<DatabaseServices, unknown>
  /**
   * A fresh database for several engines, living as long as the scope: each build of the returned layer connects
   * one engine to it, with connections of its own where the database has them (PostgreSQL: a pool of 4 per
   * engine, as separate processes would have; PGlite: the one session, shared).
   */
  readonly shared: Effect.Effect<Layer.Layer<DatabaseServices, unknown>, unknown, Scope.Scope>
  /**
   * Whether concurrent statements run in sessions of their own (PostgreSQL: row locks make them wait for each
   * other, `pg_stat_activity` shows them) or take turns in the one session (PGlite).
   */
  readonly sessions: "many" | "one"
}

export const postgres: DatabaseUnderTest = {
  name: "PostgreSQL",
  layer: TestDatabaseLayer,
  shared: Effect.map(freshDatabase, ({ url }) => postgresLayer({ url, maxConnections: 4 })),
  sessions: "many"
}

export const pglite: DatabaseUnderTest = {
  name: "PGlite",
  layer: embeddedLayer(),
  shared: Effect.map(Layer.build(embeddedLayer()), (context) => Layer.succeedContext(context)),
  sessions: "one"
}
