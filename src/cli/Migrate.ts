/**
 * What `tasker migrate` runs (loaded by `MigrateCommand.ts`): applies the pending migrations to the chosen
 * database and prints each one applied.
 */
import { PgClient } from "@effect/sql-pg"
import { Console, Effect, Layer } from "effect"
import { embeddedSqlLayer } from "../../layers/embedded.ts"
import { connectionUser } from "../db/ConnectionUser.ts"
import { runMigrations } from "../db/Migrations.ts"
import { engineOverrides, type EngineFlags } from "./Flags.ts"
import { databaseChoice, type DatabaseChoice, withSettings } from "./Settings.ts"

/** Applies the pending migrations to the chosen database; returns the `[id, name]` of each one applied. */
const migrateDatabase = (choice: DatabaseChoice) =>
  choice._tag === "Postgres"
    ? runMigrations().pipe(
      Effect.provide(Layer.unwrap(Effect.map(connectionUser(choice.url), (username) =>
        PgClient.layer({ url: choice.url, username, maxConnections: 1, applicationName: "tasker-migrate" }))))
    )
    : runMigrations().pipe(Effect.provide(embeddedSqlLayer({ dataDir: choice.dataDir, autoMigrate: false })))

/** `tasker migrate`. */
export const migrate = (flags: Pick<EngineFlags, "databaseUrl" | "dataDir" | "logFormat">) =>
  Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    if (choice._tag === "Embedded" && choice.dataDir === undefined) {
      yield* Effect.logWarning("the embedded database is in memory: the migrations are applied and then discarded")
    }
    const applied = yield* migrateDatabase(choice)
    if (applied.length === 0) yield* Console.log("database is up to date")
    for (const [id, name] of applied) yield* Console.log(`applied ${String(id).padStart(4, "0")}_${name}`)
  }).pipe(Effect.withSpan("tasker.migrate"), withSettings(engineOverrides(flags)))
