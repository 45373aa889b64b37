/**
 * `tasker-effect/postgres`: the engine's database layer on a PostgreSQL server (migrations applied on start-up
 * unless turned off).
 *
 * ```ts
 * import { postgresLayer } from "tasker-effect/postgres"
 * const Database = postgresLayer({ url: "postgres://localhost:5432/tasker" })
 * ```
 */
export { postgresLayer, postgresLayerFromEnv, type PostgresOptions, postgresSqlLayer } from "../layers/postgres.ts"
