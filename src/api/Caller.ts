/**
 * The caller of the current request, for the handlers: its `Principal` (set by `AccessLayer.ts`) and, for an
 * operator action, the `Actor` the audit trail records.
 */
import { Effect } from "effect"
import { HttpServerRequest } from "effect/http"
import { v7 as uuidv7 } from "uuid"
import type { Actor } from "../db/AuditTrail.ts"
import { CurrentPrincipal } from "./Access.ts"
import { CORRELATION_HEADER } from "./Api.ts"

/** The caller (set by `AccessLayer.ts`; its absence is a wiring bug). */
export const currentPrincipal = Effect.flatMap(
  Effect.service(CurrentPrincipal),
  (p) => (p === undefined ? Effect.die(new Error("no CurrentPrincipal: AccessLayer is not installed")) : Effect.succeed(p))
)

/** The operator of an action: the caller's key id and address, and the request's correlation (header or new). */
export const currentActor = Effect.gen(function*() {
  const principal = yield* currentPrincipal
  const request = yield* HttpServerRequest.HttpServerRequest
  const header = request.headers[CORRELATION_HEADER]
  return {
    keyId: principal.keyId,
    clientAddress: principal.clientAddress,
    correlationId: header !== undefined && header.length > 0 && header.length <= 128 ? header : uuidv7()
  } satisfies Actor
})
