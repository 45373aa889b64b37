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
import { ApiKeys } from "../db/ApiKeys.ts"
import { AuditTrail } from "../db/AuditTrail.ts"
import { metricsEndpointLayer } from "../telemetry/MetricsEndpoint.ts"
import { accessLayer } from "./AccessLayer.ts"
import { allowedHostsLayer } from "./AllowedHostsLayer.ts"
import { Api } from "./Api.ts"
import { AuditHandlers } from "./AuditHandlers.ts"
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
  DEFAULT_EVENT_HEARTBEAT_MS,
  DEFAULT_LIST_CONTEXT_BUDGET_BYTES,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONTEXT_BYTES,
  EventStreamSettings,
  UiSettings
} from "./ServerOptions.ts"
import { DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT } from "./RateLimit.ts"
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
 * The routes, with authentication when `token` is set or an API key exists (`AccessLayer.ts`), each endpoint's
 * scope checked (`AuthorizationLayer.ts`), a rate limit per caller, request bodies limited to `maxBodyBytes`, contexts to
 * `maxContextBytes`, list pages to `listContextBudgetBytes` of contexts, the `Host` header checked
 * (`AllowedHostsLayer.ts`: loopback names when `host` is a loopback address, else `allowedHosts`) and responses
 * compressed.
 */
export const apiRoutesLayer = (
  options: Pick<
    ApiServerOptions,
    | "host"
    | "token"
    | "maxBodyBytes"
    | "maxContextBytes"
    | "listContextBudgetBytes"
    | "allowedHosts"
    | "rateLimit"
    | "rateBurst"
    | "traceUrl"
    | "eventHeartbeatMs"
  > = {}
) => {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const limits = Layer.succeed(ApiLimits, {
    maxContextBytes: options.maxContextBytes ?? DEFAULT_MAX_CONTEXT_BYTES,
    listContextBudgetBytes: options.listContextBudgetBytes ?? DEFAULT_LIST_CONTEXT_BUDGET_BYTES
  })
  const ui = Layer.succeed(UiSettings, { traceUrlTemplate: options.traceUrl ?? null })
  const events = Layer.succeed(EventStreamSettings, {
    heartbeatMs: options.eventHeartbeatMs ?? DEFAULT_EVENT_HEARTBEAT_MS
  })
  const handlers = Layer.mergeAll(TasksHandlers, TemplatesHandlers, AuditHandlers, DashboardHandlers, SystemHandlers).pipe(
    Layer.provideMerge(Layer.mergeAll(authorizationLayer, requestErrorsLayer(maxBodyBytes))),
    Layer.provide([limits, ui, events, EventHub.layer]),
    Layer.provide(AuditTrail.layer),
    Layer.provide(DashboardQueries.layer)
  )
  return Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    // Prometheus text or OpenMetrics with exemplars of every metric (the metrics scope when authentication is on:
    // AccessLayer.ts)
    metricsEndpointLayer("/metrics"),
    accessLayer({
      token: options.token,
      rateLimit: options.rateLimit ?? DEFAULT_RATE_LIMIT,
      rateBurst: options.rateBurst ?? DEFAULT_RATE_BURST
    }).pipe(Layer.provide(ApiKeys.layer)),
    // the web dashboard's files (open: the page holds no data; its data calls carry the credential)
    dashboardAssetsLayer(),
    errorShapeLayer(maxBodyBytes),
    allowedHostsLayer(options.host ?? DEFAULT_API_HOST, options.allowedHosts),
    compressionLayer
  )
}
