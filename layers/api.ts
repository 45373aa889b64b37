/**
 * The REST API served over HTTP (`NodeHttpServer`): the routes of `src/api/Routes.ts` on `host:port`.
 *
 * ```ts
 * const Main = apiServerLayerFromEnv.pipe(                // TASKER_API_HOST / _PORT / _TOKEN / _MAX_BODY_BYTES
 *   Layer.provide(engineLayer({ templates })),
 *   Layer.provide(postgresLayerFromEnv)
 * )
 * Layer.launch(Main).pipe(NodeRuntime.runMain)
 * ```
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, UrlParams } from "effect/http"
import { apiRoutesLayer } from "../src/api/Routes.ts"
import {
  type ApiServerOptions,
  apiServerOptionsFromEnv,
  DEFAULT_API_HOST,
  REDACTED_QUERY_NAMES,
  DEFAULT_API_PORT
} from "../src/api/ServerOptions.ts"

/**
 * The API on `host:port`. Exposes `HttpServer.HttpServer`, whose `address` tells the port actually bound (useful
 * with port 0).
 */
export const apiServerLayer = (options: ApiServerOptions = {}) =>
  HttpRouter.serve(apiRoutesLayer(options), {
    disableLogger: options.logRequests === false,
    // long enough that an over-long id is answered as an invalid UUID, not as an unknown route
    routerConfig: { maxParamLength: 8192 }
  }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        host: options.host ?? DEFAULT_API_HOST,
        port: options.port ?? DEFAULT_API_PORT
      })
    ),
    // every query value redacted in the request spans (`url.full`, `url.query`) and the request log
    Layer.provide(Layer.succeed(UrlParams.CurrentRedactedNames, REDACTED_QUERY_NAMES))
  )

/** `apiServerLayer` configured from the environment (`apiServerOptionsFromEnv`). */
export const apiServerLayerFromEnv = Layer.unwrap(Effect.map(apiServerOptionsFromEnv, apiServerLayer))
