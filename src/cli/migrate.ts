/**
 * `npm run migrate`: applies pending migrations to the database at `DATABASE_URL` and prints what it applied.
 * (The full `tasker` CLI also has `tasker migrate`.)
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer } from "effect"
import { runMigrations } from "../db/Migrations.ts"

const program = Effect.gen(function*() {
  const applied = yield* runMigrations()
  if (applied.length === 0) {
    yield* Effect.logInfo("database is up to date")
  } else {
    for (const [id, name] of applied) yield* Effect.logInfo(`applied migration ${id}_${name}`)
  }
})

const DatabaseLayer = Layer.unwrap(
  Effect.map(Config.Redacted("DATABASE_URL"), (url) => PgClient.layer({ url, maxConnections: 1 }))
)

program.pipe(Effect.provide(DatabaseLayer), NodeRuntime.runMain)
