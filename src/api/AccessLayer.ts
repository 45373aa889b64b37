/**
 * Router-wide: who is calling, and how often. For every request except the open paths (`OPEN_PATHS`: health
 * probes and documentation):
 *
 * 1. Authentication. It is on when the server has a bootstrap token (`TASKER_API_TOKEN`) or the database has an
 *    unrevoked API key (`tasker keys create`; checked at most once a second while it is off, and once on it stays
 *    on for the life of the process). Then the request needs `Authorization: Bearer <key>` or `X-API-Key: <key>`:
 *    the bootstrap token (an `admin` caller with key id `bootstrap`) or an unrevoked `tk_<key_id>_<secret>` key.
 *    Otherwise it is a 401 `UNAUTHORIZED` — unknown routes included, so a caller without a key learns nothing.
 *    With authentication off every caller is `anonymous` with every scope.
 * 2. The rate limit (`RateLimit.ts`), per key id, or per client address for anonymous callers: a 429
 *    `TOO_MANY_REQUESTS` with `Retry-After` (seconds).
 * 3. `/metrics` (outside the `HttpApi`) needs the `metrics` scope: a 403 `FORBIDDEN` naming it.
 *
 * The caller is then `CurrentPrincipal` for the handlers, its key id annotates the request's logs and spans
 * (`tasker.api_key_id`), and the `Authorization` middleware (`AuthorizationLayer.ts`) checks each endpoint's
 * scope. The secret itself is never logged: only the key id.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { ApiKeys } from "../db/ApiKeys.ts"
import { isTransient } from "../db/SqlErrors.ts"
import {
  anonymousPrincipal,
  CurrentPrincipal,
  isAnonymous,
  METRICS_SCOPE,
  OPEN_PATHS,
  type Principal,
  principalHasScope
} from "./Access.ts"
import { errorResponse } from "./ErrorShapeLayer.ts"
import { makeRateLimiter } from "./RateLimit.ts"

const digest = (value: string) => createHash("sha256").update(value).digest()

/** The credential of a request: the bearer token, else the `X-API-Key` header; undefined when neither is given. */
export const presentedCredential = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const authorization = headers["authorization"]
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(.*)$/i.exec(authorization.trim())
    return match === null ? "" : match[1]!.trim()
  }
  return headers["x-api-key"]
}

export interface AccessOptions {
  readonly token: Redacted.Redacted<string> | string | undefined
  readonly rateLimit: number
  readonly rateBurst: number
}

// the dashboard's files are open too: the page holds no data, its data calls carry the credential
const isOpen = (path: string) =>
  OPEN_PATHS.has(path) || path.startsWith("/docs/") || path === "/ui" || path.startsWith("/ui/")

export const accessLayer = (options: AccessOptions) =>
  HttpRouter.middleware(
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      const expected = options.token === undefined
        ? undefined
        : digest(Redacted.isRedacted(options.token) ? Redacted.value(options.token) : options.token)
      const limiter = makeRateLimiter(options.rateLimit, options.rateBurst)
      // once on, authentication stays on: revoking the last key does not open the API
      let authOn = expected !== undefined
      let checkedAtMs = 0
      const authenticationOn = Effect.suspend(() => {
        const now = Date.now()
        if (authOn || now - checkedAtMs < 1000) return Effect.succeed(authOn)
        return keys.anyActive.pipe(Effect.map((any) => {
          checkedAtMs = now
          authOn = authOn || any
          return authOn
        }))
      })

      /** The caller, or an error response. */
      const authenticate = (request: HttpServerRequest.HttpServerRequest, clientAddress: string | undefined) =>
        Effect.gen(function*() {
          if (!(yield* authenticationOn)) return anonymousPrincipal(clientAddress)
          const credential = presentedCredential(request.headers)
          if (credential === undefined || credential.length === 0) {
            return errorResponse(401, "missing API key (Authorization: Bearer <key> or X-API-Key)")
          }
          if (expected !== undefined && timingSafeEqual(digest(credential), expected)) {
            return { keyId: "bootstrap", scopes: ["admin"], namespaces: undefined, clientAddress } satisfies Principal
          }
          const key = yield* keys.verify(credential)
          if (Option.isNone(key)) return errorResponse(401, "invalid or revoked API key")
          return {
            keyId: key.value.keyId,
            scopes: key.value.scopes,
            namespaces: key.value.namespaces,
            clientAddress
          } satisfies Principal
        })

      return (httpEffect) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const path = request.url.split("?")[0]!
          if (isOpen(path)) return yield* httpEffect
          const clientAddress = Option.getOrUndefined(request.remoteAddress)
          const caller = yield* authenticate(request, clientAddress).pipe(
            Effect.catchTag("SqlError", (e) =>
              (isTransient(e)
                ? Effect.succeed(errorResponse(503, "the database is unavailable; retry the request"))
                : Effect.logError("authentication failed: database error", e).pipe(
                  Effect.as(errorResponse(500, "internal error"))
                )))
          )
          if (HttpServerResponse.isHttpServerResponse(caller)) return caller
          const wait = limiter.take(isAnonymous(caller) ? `address:${clientAddress ?? "unknown"}` : caller.keyId)
          if (wait > 0) {
            return errorResponse(429, `rate limit exceeded for ${isAnonymous(caller) ? "this client" : `key ${caller.keyId}`}: ` +
              `retry after ${wait} s (TASKER_API_RATE_LIMIT)`).pipe(HttpServerResponse.setHeader("retry-after", String(wait)))
          }
          if (path === "/metrics" && !principalHasScope(caller, METRICS_SCOPE)) {
            return errorResponse(403, `key ${caller.keyId} lacks the scope ${METRICS_SCOPE}`, "scope")
          }
          return yield* httpEffect.pipe(
            Effect.provideService(CurrentPrincipal, caller),
            Effect.annotateLogs("api_key_id", caller.keyId),
            Effect.annotateSpans("tasker.api_key_id", caller.keyId)
          )
        })
    }),
    { global: true }
  )

/** The layer with its `ApiKeys` dependency provided from the request's `SqlClient`. */
export const accessLayerWithKeys = (options: AccessOptions) => accessLayer(options).pipe(Layer.provide(ApiKeys.layer))
