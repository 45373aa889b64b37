/**
 * The `RequestErrors` middleware: a request that does not decode is a 400 naming the field (a dotted body path, a
 * parameter or a header), an oversize or unreadable body a 413/400, and a defect a 500 without details.
 */
import { Cause, Effect, Layer, SchemaAST, SchemaIssue } from "effect"
import type * as Types from "effect/Types"
import { HttpServerError } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { CORRELATION_HEADER, RequestErrors } from "./Api.ts"
import { ApiBadRequest, ApiInternalError, ApiPayloadTooLarge } from "./Errors.ts"

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Request fields that must be UUIDs: a decoding failure there is an `INVALID_UUID`. */
const uuidFields = new Set(["task_uuid", "step_uuid", "correlation_id", "parent_correlation_id", CORRELATION_HEADER])

/**
 * The field that tells the members of a union of objects apart (`action` of a step action) and its values, for a
 * value that matched no member: the field to name in the error, and what it may be.
 */
const unionDiscriminator = (
  issue: SchemaIssue.Issue
): { readonly name: string; readonly values: ReadonlyArray<unknown> } | undefined => {
  if (issue._tag !== "AnyOf") return undefined
  // the payload decoder wraps the endpoint's payload schemas in a union of its own
  if (issue.issues.length === 1 && issue.issues[0]!._tag === "AnyOf") return unionDiscriminator(issue.issues[0]!)
  const members = issue.ast.types
  if (members.length === 0 || !members.every(SchemaAST.isObjects)) return undefined
  const [first, ...rest] = members
  const literal = first!.propertySignatures.find((p) =>
    SchemaAST.isLiteral(p.type) &&
    rest.every((m) => m.propertySignatures.some((q) => q.name === p.name && SchemaAST.isLiteral(q.type)))
  )
  if (literal === undefined) return undefined
  const values = members.flatMap((m) =>
    m.propertySignatures.flatMap((p) => (p.name === literal.name && SchemaAST.isLiteral(p.type) ? [p.type.literal] : []))
  )
  return { name: String(literal.name), values }
}

const quoted = (values: ReadonlyArray<unknown>): string => {
  const texts = values.map((v) => JSON.stringify(v))
  return texts.length <= 1 ? texts.join("") : `${texts.slice(0, -1).join(", ")} or ${texts[texts.length - 1]}`
}

const pathOf = (issue: { readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }) =>
  (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))

/**
 * A request decoding failure as a 400 naming the field: a dotted body path, a parameter or a header name. When the
 * decoder reported several issues (an endpoint that decodes with `errors: "all"`, such as a step action), the
 * message names every field, and `field` is the first.
 */
const badRequestOf = (error: HttpApiError.HttpApiSchemaError): ApiBadRequest => {
  const issues = issueFormatter(error.cause.issue).issues
  const issue = issues[0]
  const issuePath = issue === undefined ? [] : pathOf(issue)
  const discriminator = issuePath.length === 0 ? unionDiscriminator(error.cause.issue) : undefined
  const path = discriminator === undefined ? issuePath : [discriminator.name]
  const message = discriminator !== undefined
    ? `expected ${quoted(discriminator.values)}`
    : issue?.message ?? error.cause.message
  if (error.kind === "Payload" && message === "Expected a valid JSON body") {
    return ApiBadRequest.of("the request body is not valid JSON", "body", "INVALID_JSON")
  }
  const field = path.length > 0 ? path.join(".") : error.kind === "Payload" ? "body" : error.kind.toLowerCase()
  const where = error.kind === "Payload" ? "body" : error.kind === "Params" ? "path" : error.kind.toLowerCase()
  const code = uuidFields.has(path[path.length - 1] ?? "") ? "INVALID_UUID" : "BAD_REQUEST"
  if (discriminator === undefined && issues.length > 1) {
    const each = issues.map((i) => ({ field: pathOf(i).join(".") || where, message: i.message }))
    const same = each.every((e) => e.message === each[0]!.message)
    return ApiBadRequest.of(
      same
        ? `invalid ${where} fields ${each.map((e) => e.field).join(", ")}: ${each[0]!.message}`
        : `invalid ${where} fields: ${each.map((e) => `${e.field}: ${e.message}`).join("; ")}`,
      field,
      code
    )
  }
  return ApiBadRequest.of(`invalid ${where} field ${field}: ${message}`, field, code)
}

const isBodyReadError = (defect: unknown): defect is HttpServerError.HttpServerError =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError"

type RequestError = ApiBadRequest | ApiPayloadTooLarge | ApiInternalError

/**
 * `RequestErrors`: decoding failures → 400, oversize or unreadable bodies → 413/400, defects (bugs) → 500. Expected
 * failures, database failures included, are mapped by the handlers (`ErrorMapping.ts`).
 */
export const requestErrorsLayer = (maxBodyBytes: number) =>
  Layer.succeed(RequestErrors, (httpEffect) =>
    httpEffect.pipe(
      Effect.catch((error): Effect.Effect<never, RequestError | Types.unhandled> => {
        if (!HttpApiError.HttpApiSchemaError.is(error)) return Effect.fail(error)
        if (error.kind === "Body" || error.kind === "ResponseHeaders") {
          // our own response did not encode: a bug, never the caller's fault
          return Effect.logError("response encoding failed", error.cause).pipe(
            Effect.andThen(Effect.fail(ApiInternalError.of()))
          )
        }
        return Effect.fail(badRequestOf(error))
      }),
      Effect.catchDefect((defect): Effect.Effect<never, RequestError> => {
        if (isBodyReadError(defect)) {
          const reason = defect.reason as HttpServerError.RequestParseError
          return Effect.fail(
            reason.reason === "BodyTooLarge"
              ? ApiPayloadTooLarge.of(`the request body is larger than ${maxBodyBytes} bytes`)
              : ApiBadRequest.of("the request body could not be read", "body")
          )
        }
        return Effect.logError("request failed", Cause.die(defect)).pipe(Effect.andThen(Effect.fail(ApiInternalError.of())))
      })
    ))
