/**
 * `tasker-effect/embedded`: the engine's database layer on an in-process PostgreSQL (PGlite), in memory or in a
 * data directory; no database server needed.
 *
 * ```ts
 * import { embeddedLayer } from "tasker-effect/embedded"
 * const Database = embeddedLayer({ dataDir: "./.tasker-data" })
 * ```
 */
export { embeddedLayer, embeddedLayerFromEnv, type EmbeddedOptions, embeddedSqlLayer } from "../layers/embedded.ts"
