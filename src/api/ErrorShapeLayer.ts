/**
 * Router-wide: every response of the server in the API's error shape `{"error": {"code", "message", "field"?}}`,
 * including what the API's own middlewares never see (unknown routes, an unsupported content type, oversize
 * bodies, defects outside handlers). Also limits request bodies to `maxBodyBytes`.
 */
import { ByteSize, Cause, Effect } from "effect"
import type * as Types from "effect/Types"
import { HttpIncomingMessage, HttpRouter, HttpServerError, HttpServerResponse as Response } from "effect/http"
import type { ErrorCode } from "./Errors.ts"

const codeOfStatus = (status: number): ErrorCode => {
  switch (status) {
    case 401:
      return "UNAUTHORIZED"
    case 403:
      return "FORBIDDEN"
    case 404:
      return "NOT_FOUND"
    case 405:
      return "METHOD_NOT_ALLOWED"
    case 409:
      return "CONFLICT"
    case 413:
      return "PAYLOAD_TOO_LARGE"
    case 415:
      return "UNSUPPORTED_MEDIA_TYPE"
    case 422:
      return "VALIDATION_ERROR"
    case 429:
      return "TOO_MANY_REQUESTS"
    case 503:
      return "SERVICE_UNAVAILABLE"
    default:
      return status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST"
  }
}

/** A response in the API's error shape with the code of `status`. */
export const errorResponse = (status: number, message: string, field?: string) =>
  Response.jsonUnsafe({ error: { code: codeOfStatus(status), message, ...(field === undefined ? {} : { field }) } }, {
    status
  })

const isJsonBody = (response: Response.HttpServerResponse) =>
  (("contentType" in response.body ? response.body.contentType : undefined) ?? response.headers["content-type"] ?? "")
    .includes("json")

/**
 * Router-wide: limits request bodies to `maxBodyBytes`, and answers whatever the API middlewares do not see
 * (unknown routes, an unsupported content type, defects outside handlers) in the error shape. Error responses
 * that are not JSON are replaced by the error shape with the same status.
 */
export const errorShapeLayer = (maxBodyBytes: number) =>
  HttpRouter.middleware((httpEffect): Effect.Effect<Response.HttpServerResponse, Types.unhandled> =>
    httpEffect.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        const error = Cause.squash(cause)
        if (HttpServerError.isHttpServerError(error)) {
          switch (error.reason._tag) {
            case "RouteNotFound":
              return Effect.succeed(
                errorResponse(404, `no route for ${error.request.method} ${error.request.url.split("?")[0]!.slice(0, 200)}`)
              )
            case "RequestParseError":
              return Effect.succeed(
                error.reason.reason === "BodyTooLarge"
                  ? errorResponse(413, `the request body is larger than ${maxBodyBytes} bytes`, "body")
                  : errorResponse(400, "the request body could not be read", "body")
              )
          }
        }
        return Effect.logError("unhandled request failure", cause).pipe(
          Effect.as(errorResponse(500, "internal error"))
        )
      }),
      Effect.map((response) =>
        response.status >= 400 && !isJsonBody(response)
          ? response.status === 415
            ? errorResponse(415, "unsupported content type: send application/json", "content-type")
            : errorResponse(response.status, `request failed with status ${response.status}`)
          : response
      )
    ), { global: true })
