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
import { hostOfHeader, isLoopbackHost } from "../src/api/AllowedHostsLayer.ts"
import { apiRoutesLayer } from "../src/api/Routes.ts"
import { ApiKeys } from "../src/db/ApiKeys.ts"
import {
  type ApiServerOptions,
  apiServerOptionsFromEnv,
  DEFAULT_API_HOST,
  REDACTED_QUERY_NAMES,
  DEFAULT_API_PORT,
  UnsafeBind
} from "../src/api/ServerOptions.ts"

/**
 * Before the server binds: a non-loopback host needs a credential — the bootstrap token or an unrevoked API key —
 * unless `allowUnauthenticated`; otherwise the layer fails with `UnsafeBind`.
 */
export const safeBindCheck = (options: ApiServerOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const host = options.host ?? DEFAULT_API_HOST
    if (options.token !== undefined || options.allowUnauthenticated === true || isLoopbackHost(hostOfHeader(host))) return
    if (yield* (yield* ApiKeys).anyActive) return
    return yield* new UnsafeBind({
      host,
      message: `refusing to serve the API on ${host} without authentication: anyone who can reach it could read and ` +
        "operate every task. Set TASKER_API_TOKEN (a secret of at least 16 characters), create an API key " +
        "(tasker keys create), listen on 127.0.0.1, or accept the risk with --allow-unauthenticated " +
        "(TASKER_API_ALLOW_UNAUTHENTICATED=true)"
    })
  })).pipe(Layer.provide(ApiKeys.layer))

/**
 * The API on `host:port`. Exposes `HttpServer.HttpServer`, whose `address` tells the port actually bound (useful
 * with port 0). Fails with `UnsafeBind` before binding a non-loopback host without any credential
 * (`safeBindCheck`).
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
      }).pipe(Layer.provide(safeBindCheck(options)))
    ),
    // every query value redacted in the request spans (`url.full`, `url.query`) and the request log
    Layer.provide(Layer.succeed(UrlParams.CurrentRedactedNames, REDACTED_QUERY_NAMES))
  )

/** `apiServerLayer` configured from the environment (`apiServerOptionsFromEnv`). */
export const apiServerLayerFromEnv = Layer.unwrap(Effect.map(apiServerOptionsFromEnv, apiServerLayer))
