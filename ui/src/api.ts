/**
 * The dashboard's data calls: the typed client derived from the API definition (`src/api/Api.ts`, the same one the
 * server implements), over `fetch`, on the page's own origin, with the bearer credential the user pasted (kept in
 * `sessionStorage`). A 401 clears nothing by itself: the app shows the token prompt.
 */
import { Cause, Effect, Exit } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "../../src/api/Api.ts"

const TOKEN_KEY = "tasker.dashboard.token"

export const getToken = (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined
export const setToken = (token: string | undefined) =>
  token === undefined || token === "" ? sessionStorage.removeItem(TOKEN_KEY) : sessionStorage.setItem(TOKEN_KEY, token)

export type Client = HttpApiClient.ForApi<typeof Api>

/** An API call failed: its HTTP status when known, and the API's own message (`error.message`). */
export class CallError extends Error {
  constructor(readonly status: number | undefined, message: string, readonly code?: string, readonly field?: string) {
    super(message)
  }
}

const statusOf: Record<string, number> = {
  ApiBadRequest: 400,
  ApiUnauthorized: 401,
  ApiNotFound: 404,
  ApiConflict: 409,
  ApiPayloadTooLarge: 413,
  ApiValidationError: 422,
  ApiInternalError: 500,
  ApiServiceUnavailable: 503
}

const toCallError = (failure: unknown): CallError => {
  if (typeof failure === "object" && failure !== null) {
    const f = failure as { _tag?: string; error?: { message?: string; code?: string; field?: string }; message?: string }
    if (f.error !== undefined && typeof f.error.message === "string") {
      const tag = (f._tag ?? "").split("/").pop() ?? ""
      return new CallError(statusOf[tag], f.error.message, f.error.code, f.error.field)
    }
    const response = (failure as { response?: { status?: number } }).response
    return new CallError(response?.status, f.message ?? String(failure))
  }
  return new CallError(undefined, String(failure))
}

/** Runs `f` with a client carrying the current token; rejects with a `CallError`. */
export const call = async <A, E>(f: (client: Client) => Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(
    Effect.gen(function*() {
      const token = getToken()
      const client = yield* HttpApiClient.make(Api, {
        baseUrl: window.location.origin,
        transformClient: (c) =>
          token === undefined ? c : HttpClient.mapRequest(c, HttpClientRequest.bearerToken(token))
      })
      return yield* f(client)
    }).pipe(Effect.provide(FetchHttpClient.layer))
  )
  if (Exit.isSuccess(exit)) return exit.value
  throw toCallError(Cause.squash(exit.cause))
}
