/**
 * The `Authorization` middleware: with a token configured, every request of the secured groups needs
 * `Authorization: Bearer <token>` or `X-API-Key: <token>`; without one, every request passes.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Effect, Layer, Redacted } from "effect"
import { Authorization } from "./Api.ts"
import { ApiUnauthorized } from "./Errors.ts"

const digest = (value: string) => createHash("sha256").update(value).digest()

/** `Authorization`: every request passes when no token is configured; otherwise the token must match. */
export const authorizationLayer = (token: Redacted.Redacted<string> | string | undefined) => {
  const expected = token === undefined ? undefined : digest(Redacted.isRedacted(token) ? Redacted.value(token) : token)
  const check = <A, E, R>(httpEffect: Effect.Effect<A, E, R>, credential: Redacted.Redacted<string>) => {
    if (expected === undefined) return httpEffect
    // compared as digests, so the comparison takes the same time whatever the length of the candidate
    const given = Redacted.value(credential)
    return given.length > 0 && timingSafeEqual(digest(given), expected)
      ? httpEffect
      : Effect.fail(ApiUnauthorized.of("missing or invalid API token (Authorization: Bearer <token> or X-API-Key)"))
  }
  return Layer.succeed(Authorization, {
    bearer: (httpEffect, { credential }) => check(httpEffect, credential),
    apiKey: (httpEffect, { credential }) => check(httpEffect, credential)
  })
}
