/**
 * `tasker-effect/server`: the HTTP API (`/v1/tasks`, `/v1/templates`, `/health`, `/ready`, `/metrics`, `/docs`)
 * as a layer an application serves next to the engine.
 *
 * ```ts
 * import { apiServerLayer } from "tasker-effect/server"
 * const Server = apiServerLayer({ port: 8080 }).pipe(Layer.provide(Engine))
 * ```
 */
export { apiServerLayer, apiServerLayerFromEnv } from "../layers/api.ts"
export type { ApiServerOptions } from "../src/api/ServerOptions.ts"
export { Api } from "../src/api/Api.ts"
