/**
 * The API's routes on an `HttpRouter`: every endpoint of `Api` with its handlers and middlewares, the OpenAPI
 * document (`/openapi.json`), a Scalar docs page (`/docs`), the Prometheus metrics (`/metrics`) and the router-wide
 * error shape. `layers/api.ts` serves them over HTTP.
 *
 * The handlers need the engine's services (`TaskInitializer`, `TaskQueries`, `TaskListing`, `TaskOperations`,
 * `TemplateRegistry`, `ReadinessFunctions`, `CurrentProcessor`, `EngineConfig`) and a `SqlClient`: provide
 * `engineLayer(...)` over a database layer. The engine's loops need not run in the same process.
 */
import { Layer } from "effect"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Api } from "./Api.ts"
import { authorizationLayer } from "./AuthorizationLayer.ts"
import { errorShapeLayer } from "./ErrorShapeLayer.ts"
import { requestErrorsLayer } from "./RequestErrorsLayer.ts"
import { type ApiServerOptions, DEFAULT_MAX_BODY_BYTES } from "./ServerOptions.ts"
import { SystemHandlers } from "./SystemHandlers.ts"
import { TasksHandlers } from "./TasksHandlers.ts"
import { TemplatesHandlers } from "./TemplatesHandlers.ts"

/** The routes, with authentication when `token` is set and request bodies limited to `maxBodyBytes`. */
export const apiRoutesLayer = (options: Pick<ApiServerOptions, "token" | "maxBodyBytes"> = {}) => {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const handlers = Layer.mergeAll(TasksHandlers, TemplatesHandlers, SystemHandlers).pipe(
    Layer.provideMerge(Layer.mergeAll(authorizationLayer(options.token), requestErrorsLayer(maxBodyBytes)))
  )
  return Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    // Prometheus text format of every metric (open, like the health probes)
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    errorShapeLayer(maxBodyBytes)
  )
}
