/**
 * The database from the environment: PostgreSQL (`postgresLayerFromEnv`) when `DATABASE_URL` is set and not empty,
 * otherwise the embedded in-process database (`embeddedLayerFromEnv`: in memory, or `TASKER_EMBEDDED_DATA_DIR`).
 * The `tasker` commands make the same choice (`databaseChoiceFromEnv`) and describe it in their first log line.
 */
import type { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { embeddedLayerFromEnv } from "./embedded.ts"
import { postgresLayerFromEnv } from "./postgres.ts"

/** Which database the environment names. */
export type DatabaseChoice =
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Embedded"; readonly dataDir: string | undefined }

/** `DATABASE_URL` (not empty) → PostgreSQL; otherwise the embedded database (`TASKER_EMBEDDED_DATA_DIR` or in memory). */
export const databaseChoiceFromEnv = Effect.gen(function*() {
  const url = yield* Config.Redacted("DATABASE_URL").pipe(Config.option)
  if (Option.isSome(url) && Redacted.value(url.value).trim() !== "") {
    return { _tag: "Postgres", url: url.value } satisfies DatabaseChoice as DatabaseChoice
  }
  const dataDir = Option.getOrUndefined(yield* Config.String("TASKER_EMBEDDED_DATA_DIR").pipe(Config.option))
  return { _tag: "Embedded", dataDir } satisfies DatabaseChoice as DatabaseChoice
})

/**
 * What either database's data layer gives: the services both provide (not the driver-specific `PgClient` or
 * `PgliteClient`), failing as either can (the embedded one also with `DataDirLocked`, the PostgreSQL one also with
 * `DatabaseUserMissing`).
 */
export type DataLayer = Layer.Layer<
  Exclude<Layer.Success<typeof postgresLayerFromEnv>, PgClient.PgClient>,
  Layer.Error<typeof postgresLayerFromEnv> | Layer.Error<typeof embeddedLayerFromEnv>
>

/**
 * The data layer for a choice: `postgresLayerFromEnv` or `embeddedLayerFromEnv`, both configured from the
 * environment, both migrating on start-up unless `TASKER_AUTO_MIGRATE=false`.
 */
export const databaseLayer = (choice: DatabaseChoice): DataLayer =>
  choice._tag === "Postgres" ? postgresLayerFromEnv : embeddedLayerFromEnv

export const databaseLayerFromEnv = Layer.unwrap(Effect.map(databaseChoiceFromEnv, databaseLayer))
