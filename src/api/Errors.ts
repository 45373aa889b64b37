/**
 * The REST API's error responses. Every error has one JSON shape, `{"error": {"code", "message", "field"?}}`, and
 * one class per HTTP status, so the OpenAPI document and the typed client know every error an endpoint can
 * return. The encoded body carries no `_tag`; the classes add one on the type side, so client code can use
 * `Effect.catchTag("ApiNotFound", …)`.
 *
 * Codes (`error.code`): `BAD_REQUEST`, `INVALID_JSON`, `INVALID_UUID` (400), `UNAUTHORIZED` (401), `FORBIDDEN` (403), `NOT_FOUND` (404),
 * `CONFLICT` (409), `PAYLOAD_TOO_LARGE` (413), `UNSUPPORTED_MEDIA_TYPE` (415), `VALIDATION_ERROR` (422),
 * `TOO_MANY_REQUESTS` (429, with `Retry-After`),
 * `INTERNAL_ERROR` (500), `SERVICE_UNAVAILABLE` (503). `field` names the offending input (`context.even_number`,
 * `task_uuid`, `status`, `x-correlation-id`, `body`, …) when there is one.
 *
 * Definitions only: shared by the server (`Http.ts`) and the client (`src/client`).
 */
import { Schema } from "effect"

export const ErrorCode = Schema.Literals([
  "BAD_REQUEST",
  "INVALID_JSON",
  "INVALID_UUID",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "TOO_MANY_REQUESTS",
  "UNSUPPORTED_MEDIA_TYPE",
  "VALIDATION_ERROR",
  "INTERNAL_ERROR",
  "SERVICE_UNAVAILABLE"
])
export type ErrorCode = typeof ErrorCode.Type

/** The body of every error response: `{"error": ErrorBody}`. */
export const ErrorBody = Schema.Struct({
  code: ErrorCode,
  message: Schema.String,
  /** the offending input: a dotted body path, a path or query parameter, or a header name */
  field: Schema.optionalKey(Schema.String)
})
export type ErrorBody = typeof ErrorBody.Type

const body = (code: ErrorCode, message: string, field: string | undefined): ErrorBody =>
  field === undefined ? { code, message } : { code, message, field }

/** 400: the request is malformed (bad JSON, wrong types, missing fields, invalid UUIDs, unknown filters). */
export class ApiBadRequest extends Schema.Error<ApiBadRequest>("tasker/api/ApiBadRequest")({ error: ErrorBody }, {
  httpApiStatus: 400,
  description: "The request is malformed"
}) {
  readonly _tag = "ApiBadRequest" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field?: string, code: "BAD_REQUEST" | "INVALID_JSON" | "INVALID_UUID" = "BAD_REQUEST") {
    return new ApiBadRequest({ error: body(code, message, field) })
  }
}

/** 401: authentication is on and the request has no valid token. */
export class ApiUnauthorized extends Schema.Error<ApiUnauthorized>("tasker/api/ApiUnauthorized")({ error: ErrorBody }, {
  httpApiStatus: 401,
  description: "Missing or invalid API token"
}) {
  readonly _tag = "ApiUnauthorized" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string) {
    return new ApiUnauthorized({ error: body("UNAUTHORIZED", message, undefined) })
  }
}

/** 403: the caller's key lacks the scope the request needs, or may not use the namespace it names. */
export class ApiForbidden extends Schema.Error<ApiForbidden>("tasker/api/ApiForbidden")({ error: ErrorBody }, {
  httpApiStatus: 403,
  description: "The API key lacks the scope or namespace the request needs"
}) {
  readonly _tag = "ApiForbidden" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field?: string) {
    return new ApiForbidden({ error: body("FORBIDDEN", message, field) })
  }
}

/** 429: the caller's rate limit is exhausted; the response's `Retry-After` says when to try again. */
export class ApiTooManyRequests extends Schema.Error<ApiTooManyRequests>("tasker/api/ApiTooManyRequests")({
  error: ErrorBody
}, {
  httpApiStatus: 429,
  description: "Rate limit exceeded (see the Retry-After header)"
}) {
  readonly _tag = "ApiTooManyRequests" as const
  override get message(): string {
    return this.error.message
  }
}

/** 404: an unknown task, step, template or route. */
export class ApiNotFound extends Schema.Error<ApiNotFound>("tasker/api/ApiNotFound")({ error: ErrorBody }, {
  httpApiStatus: 404,
  description: "Not found"
}) {
  readonly _tag = "ApiNotFound" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field?: string) {
    return new ApiNotFound({ error: body("NOT_FOUND", message, field) })
  }
}

/** 409: the action is not allowed in the current state (cancel a finished task, retry a step that did not fail). */
export class ApiConflict extends Schema.Error<ApiConflict>("tasker/api/ApiConflict")({ error: ErrorBody }, {
  httpApiStatus: 409,
  description: "Not allowed in the current state"
}) {
  readonly _tag = "ApiConflict" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field?: string) {
    return new ApiConflict({ error: body("CONFLICT", message, field) })
  }
}

/** 413: the request body is larger than the configured limit. */
export class ApiPayloadTooLarge extends Schema.Error<ApiPayloadTooLarge>("tasker/api/ApiPayloadTooLarge")({
  error: ErrorBody
}, {
  httpApiStatus: 413,
  description: "The request body is too large"
}) {
  readonly _tag = "ApiPayloadTooLarge" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field = "body") {
    return new ApiPayloadTooLarge({ error: body("PAYLOAD_TOO_LARGE", message, field) })
  }
}

/** 422: the task context does not match the template's input schema. */
export class ApiValidationError extends Schema.Error<ApiValidationError>("tasker/api/ApiValidationError")({
  error: ErrorBody
}, {
  httpApiStatus: 422,
  description: "The task context does not match the template's input schema"
}) {
  readonly _tag = "ApiValidationError" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string, field: string) {
    return new ApiValidationError({ error: body("VALIDATION_ERROR", message, field) })
  }
}

/** 500: a failure of the server (a bug or a database failure), never the caller's input. */
export class ApiInternalError extends Schema.Error<ApiInternalError>("tasker/api/ApiInternalError")({
  error: ErrorBody
}, {
  httpApiStatus: 500,
  description: "Internal error"
}) {
  readonly _tag = "ApiInternalError" as const
  override get message(): string {
    return this.error.message
  }
  static of(message = "internal error") {
    return new ApiInternalError({ error: body("INTERNAL_ERROR", message, undefined) })
  }
}

/** One readiness check: `ok`, or `failed` with a message. */
export const ReadinessCheck = Schema.Struct({
  status: Schema.Literals(["ok", "failed"]),
  message: Schema.optionalKey(Schema.String),
  duration_ms: Schema.Number
})
export type ReadinessCheck = typeof ReadinessCheck.Type

/** 503: the service is not ready (`/ready`), with the result of each check. */
export class ApiServiceUnavailable extends Schema.Error<ApiServiceUnavailable>("tasker/api/ApiServiceUnavailable")({
  error: ErrorBody,
  checks: Schema.optionalKey(Schema.Record(Schema.String, ReadinessCheck))
}, {
  httpApiStatus: 503,
  description: "Not ready"
}) {
  readonly _tag = "ApiServiceUnavailable" as const
  override get message(): string {
    return this.error.message
  }
  static of(message: string) {
    return new ApiServiceUnavailable({ error: body("SERVICE_UNAVAILABLE", message, undefined) })
  }
}

/** Every error the API returns, as the client sees them. */
export type ApiError =
  | ApiBadRequest
  | ApiUnauthorized
  | ApiForbidden
  | ApiTooManyRequests
  | ApiNotFound
  | ApiConflict
  | ApiPayloadTooLarge
  | ApiValidationError
  | ApiInternalError
  | ApiServiceUnavailable
