/**
 * Schema migrations: the numbered plain-SQL files in `migrations/` (`0001_registry.sql`, …, one file per concept;
 * the map is in docs/architecture.md), applied in order by effect/sql's `Migrator` and recorded in the
 * `tasker_migrations` table.
 *
 * The migrator runs all pending files in one transaction and takes an exclusive lock on its table first, so two
 * processes starting at once apply each migration exactly once. It needs only `SqlClient`, so the same files
 * run on PostgreSQL and on the embedded PGlite database.
 */
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { Migrator, SqlClient, type SqlError } from "effect/sql"
import { splitSqlStatements } from "./SqlScript.ts"

/** The `migrations/` directory shipped with the package. */
export const migrationsDirectory: string = fileURLToPath(new URL("../../migrations/", import.meta.url))

export const MIGRATIONS_TABLE = "tasker_migrations"

const FILE_PATTERN = /^(\d+)_([A-Za-z0-9_]+)\.sql$/

/** A migration that runs each statement of one SQL file in order. */
const sqlFileMigration = (path: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = yield* Effect.promise(() => readFile(path, "utf8"))
    for (const statement of splitSqlStatements(text)) {
      yield* sql.unsafe(statement).unprepared
    }
  })

/** A `Migrator.Loader` over the `<id>_<name>.sql` files of a directory. */
export const fromSqlDirectory = (directory: string = migrationsDirectory): Migrator.Loader =>
  Effect.tryPromise({
    try: () => readdir(directory),
    catch: (cause) =>
      new Migrator.MigrationError({ kind: "ImportError", message: `cannot read migrations in ${directory}`, cause })
  }).pipe(
    Effect.map((files) =>
      files
        .flatMap((file) => {
          const match = FILE_PATTERN.exec(file)
          return match === null ? [] : [[Number(match[1]), match[2]!, file] as const]
        })
        .sort(([a], [b]) => a - b)
        .map(([id, name, file]) =>
          [id, name, Effect.succeed(sqlFileMigration(join(directory, file)))] as const
        )
    )
  )

/** Applies pending migrations; returns the `[id, name]` of each one applied. */
export const runMigrations = (directory?: string) =>
  Migrator.make({})({ loader: fromSqlDirectory(directory), table: MIGRATIONS_TABLE })

/** Applies pending migrations when the layer is built. */
export const MigrationsLayer: Layer.Layer<never, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =
  Layer.effectDiscard(runMigrations())
