/**
 * The database from the environment: PostgreSQL (`PostgresLayer`) when `DATABASE_URL` is set and not empty,
 * otherwise the embedded in-process database (`EmbeddedLayer`: in memory, or `TASKER_EMBEDDED_DATA_DIR`).
 */
import { Config, Effect, Layer, Option } from "effect"
import { EmbeddedLayer } from "./embedded.ts"
import { PostgresLayer } from "./postgres.ts"

/** Whether `DATABASE_URL` names a PostgreSQL server to use. */
export const usesPostgres = Config.String("DATABASE_URL").pipe(
  Config.option,
  Config.map((url) => Option.isSome(url) && url.value.trim() !== "")
)

export const DatabaseLayer = Layer.unwrap(
  Effect.map(usesPostgres, (postgres) => (postgres ? PostgresLayer : EmbeddedLayer))
)
