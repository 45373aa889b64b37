/**
 * The API's routes on an `HttpRouter`: every endpoint of `Api` with its handlers and middlewares, the OpenAPI
 * document (`/openapi.json`), a Scalar docs page (`/docs`), the Prometheus metrics (`/metrics`), the web dashboard
 * (`/ui`, `DashboardAssets.ts`) and the router-wide
 * error shape. `layers/api.ts` serves them over HTTP.
 *
 * The handlers need the engine's services (`TaskInitializer`, `TaskQueries`, `TaskListing`, `TaskOperations`,
 * `TemplateRegistry`, `ReadinessFunctions`, `CurrentProcessor`, `EngineConfig`, `NotificationSource` for the event
 * stream) and a `SqlClient`: provide
 * `engineLayer(...)` over a database layer. The engine's loops need not run in the same process.
 */
import { Layer } from "effect"
import { HttpMiddleware, HttpRouter } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { allowedHostsLayer } from "./AllowedHostsLayer.ts"
import { Api } from "./Api.ts"
import { authorizationLayer } from "./AuthorizationLayer.ts"
import { dashboardAssetsLayer } from "./DashboardAssets.ts"
import { DashboardHandlers } from "./DashboardHandlers.ts"
import { DashboardQueries } from "../tasks/Dashboard.ts"
import { EventHub } from "./EventHub.ts"
import { errorShapeLayer } from "./ErrorShapeLayer.ts"
import { requestErrorsLayer } from "./RequestErrorsLayer.ts"
import {
  ApiLimits,
  type ApiServerOptions,
  DEFAULT_API_HOST,
  DEFAULT_LIST_CONTEXT_BUDGET_BYTES,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONTEXT_BYTES,
  UiSettings
} from "./ServerOptions.ts"
import { SystemHandlers } from "./SystemHandlers.ts"
import { TasksHandlers } from "./TasksHandlers.ts"
import { TemplatesHandlers } from "./TemplatesHandlers.ts"

/**
 * Responses of 1 KiB or more compressed when the client accepts it (gzip; brotli for a client that takes only that):
 * the 3 MB `/docs` page, large task lists and `/metrics`. Needs the platform's `HttpPlatform` (provided by
 * `NodeHttpServer.layer`).
 */
const compressionLayer = HttpRouter.middleware(HttpMiddleware.compression({ algorithms: ["gzip", "br"] }), {
  global: true
})

/**
 * The routes, with authentication when `token` is set, request bodies limited to `maxBodyBytes`, contexts to
 * `maxContextBytes`, list pages to `listContextBudgetBytes` of contexts, the `Host` header checked
 * (`AllowedHostsLayer.ts`: loopback names when `host` is a loopback address, else `allowedHosts`) and responses
 * compressed.
 */
export const apiRoutesLayer = (
  options: Pick<
    ApiServerOptions,
    "host" | "token" | "maxBodyBytes" | "maxContextBytes" | "listContextBudgetBytes" | "allowedHosts" | "traceUrl"
  > = {}
) => {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const limits = Layer.succeed(ApiLimits, {
    maxContextBytes: options.maxContextBytes ?? DEFAULT_MAX_CONTEXT_BYTES,
    listContextBudgetBytes: options.listContextBudgetBytes ?? DEFAULT_LIST_CONTEXT_BUDGET_BYTES
  })
  const ui = Layer.succeed(UiSettings, {
    traceUrlTemplate: options.traceUrl ?? null,
    authRequired: options.token !== undefined
  })
  const handlers = Layer.mergeAll(TasksHandlers, TemplatesHandlers, DashboardHandlers, SystemHandlers).pipe(
    Layer.provideMerge(Layer.mergeAll(authorizationLayer(options.token), requestErrorsLayer(maxBodyBytes))),
    Layer.provide([limits, ui, EventHub.layer]),
    Layer.provide(DashboardQueries.layer)
  )
  return Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    // Prometheus text format of every metric (open, like the health probes)
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    // the web dashboard's files (open: the page holds no data; its data calls carry the credential)
    dashboardAssetsLayer(),
    errorShapeLayer(maxBodyBytes),
    allowedHostsLayer(options.host ?? DEFAULT_API_HOST, options.allowedHosts),
    compressionLayer
  )
}
