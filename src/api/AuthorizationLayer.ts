/**
 * The `Authorization` middleware of the `HttpApi`: the caller (`CurrentPrincipal`, authenticated by
 * `AccessLayer.ts` before the request reaches the API) must hold the scope `ROUTE_SCOPES` gives the endpoint;
 * otherwise a 403 `FORBIDDEN` naming the missing scope (`field: "scope"`). Without a caller — a request that
 * bypassed `AccessLayer.ts`, which cannot happen with `apiRoutesLayer` — a 401.
 *
 * The middleware declares the bearer and `X-API-Key` schemes so the OpenAPI document shows them; both run the
 * same check (the credential itself was verified by `AccessLayer.ts`).
 */
import { Effect, Layer } from "effect"
import type { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { CurrentPrincipal, principalHasScope, ROUTE_SCOPES } from "./Access.ts"
import { Authorization } from "./Api.ts"
import { ApiForbidden, ApiUnauthorized } from "./Errors.ts"

/** The OpenAPI operation id of an endpoint: `<group>.<endpoint>`, or the endpoint's name in a top-level group. */
export const operationId = (group: HttpApiGroup.Top, endpoint: HttpApiEndpoint.Top) =>
  group.topLevel ? endpoint.identifier : `${group.identifier}.${endpoint.identifier}`

const check = <A, E, R>(
  httpEffect: Effect.Effect<A, E, R>,
  options: { readonly group: HttpApiGroup.Top; readonly endpoint: HttpApiEndpoint.Top }
): Effect.Effect<A, E | ApiUnauthorized | ApiForbidden, R> =>
  Effect.flatMap(Effect.service(CurrentPrincipal), (principal): Effect.Effect<A, E | ApiUnauthorized | ApiForbidden, R> => {
    if (principal === undefined) return Effect.fail(ApiUnauthorized.of("missing API key"))
    const id = operationId(options.group, options.endpoint)
    const required = (ROUTE_SCOPES as Record<string, (typeof ROUTE_SCOPES)[keyof typeof ROUTE_SCOPES]>)[id]
    // an endpoint missing from the table is refused to everyone but admin keys (test/api/Scopes checks the table)
    const scope = required ?? "admin"
    return principalHasScope(principal, scope)
      ? httpEffect
      : Effect.fail(ApiForbidden.of(`key ${principal.keyId} lacks the scope ${scope} (needed by ${id})`, "scope"))
  })

/** `Authorization`: the endpoint's scope checked against the caller's. */
export const authorizationLayer = Layer.succeed(Authorization, {
  bearer: (httpEffect, options) => check(httpEffect, options),
  apiKey: (httpEffect, options) => check(httpEffect, options)
})
