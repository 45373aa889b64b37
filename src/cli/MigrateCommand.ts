/**
 * `tasker migrate`: applies the pending migrations to the database at `DATABASE_URL` (or to the embedded database
 * in `TASKER_EMBEDDED_DATA_DIR`) and prints what it applied, one `applied <id>_<name>` line per migration, or
 * `database is up to date`. Definitions only: the handler loads `Migrate.ts` when it runs.
 */
import { Effect } from "effect"
import { Command } from "effect/cli"
import { databaseFlags } from "./Flags.ts"

export const MigrateCommand = Command.make(
  "migrate",
  databaseFlags,
  (flags) => Effect.flatMap(Effect.promise(() => import("./Migrate.ts")), (m) => m.migrate(flags))
).pipe(
  Command.withDescription(
    "Apply the pending schema migrations to DATABASE_URL (or the embedded database in --data-dir) and print them"
  ),
  Command.withExamples([
    { command: "DATABASE_URL=postgres://localhost/tasker tasker migrate", description: "Migrate a PostgreSQL database" },
    { command: "tasker migrate --data-dir ./.tasker-data", description: "Create or migrate an embedded database" }
  ])
)
