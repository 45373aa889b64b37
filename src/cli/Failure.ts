/**
 * How the `tasker` command fails: every failure ends as one line on stderr and an exit code.
 *
 * - `2`: bad input — a flag or argument that does not parse (already reported by the parser, see `Presenter.ts`),
 *   a `UsageError` raised by a command, an invalid environment variable (`ConfigError`; a `DATABASE_URL` whose
 *   user cannot be found, `DatabaseUserMissing`), an API answer in the 4xx range, or a server that cannot be reached.
 * - `1`: everything else (a database failure, an embedded data directory locked by another process, a task that
 *   did not finish, a bug).
 * - `0`: success, and a shutdown asked for by SIGINT/SIGTERM (the main fiber interrupted).
 *
 * Lines never contain the database URL or the API token: `redactSecrets` replaces them (and the URL's password)
 * wherever they appear.
 */
import { Cause, Predicate, Redacted, Schema } from "effect"
import { CliError } from "effect/cli"
import { HttpClientError } from "effect/http"

/** Bad input found by a command (exit code 2). `field` names the flag, argument or variable at fault. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  field: Schema.String,
  message: Schema.String
}) {}

/** A command that ran but did not succeed, e.g. a task that ended blocked (exit code 1). */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  message: Schema.String
}) {}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** The shortest secret masked wherever it appears; shorter ones are removed from URLs' userinfo only. */
const MIN_MASKED_LENGTH = 6

/** A URL's `user:password@`: the password is replaced, whatever its length. */
const USERINFO_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi

/** Values that must never be printed; filled in as the CLI reads them (flags) and from the environment. */
const secrets = new Set<string>()

/** Remembers a secret (a database URL, a token) so that `redactSecrets` removes it from any output. */
export const registerSecret = (value: string | Redacted.Redacted<string> | undefined): void => {
  if (value === undefined) return
  const text = Redacted.isRedacted(value) ? Redacted.value(value) : value
  if (text.length === 0) return
  secrets.add(text)
  try {
    const url = new URL(text)
    // a short password alone would be masked inside every word that contains it, which shows it letter by letter:
    // it is removed only where it stands, in a URL's userinfo (redactSecrets)
    if (url.password.length >= MIN_MASKED_LENGTH) {
      secrets.add(url.password)
      secrets.add(decodeURIComponent(url.password))
    }
  } catch {
    // not a URL: the whole value is the secret
  }
}

for (const name of ["DATABASE_URL", "TASKER_API_TOKEN", "TEST_DATABASE_URL"]) registerSecret(process.env[name])

/** `text` with every URL's password and every registered secret replaced by `***`. */
export const redactSecrets = (text: string): string => {
  let out = text.replace(USERINFO_PASSWORD, "$1***@")
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join("***")
  }
  return out
}

/** One line: the first line of a message, secrets removed. */
const oneLine = (text: string): string => redactSecrets(text.split("\n")[0]!.trim())

const apiStatus: Record<string, number> = {
  ApiBadRequest: 400,
  ApiUnauthorized: 401,
  ApiForbidden: 403,
  ApiNotFound: 404,
  ApiConflict: 409,
  ApiPayloadTooLarge: 413,
  ApiValidationError: 422,
  ApiTooManyRequests: 429,
  ApiInternalError: 500,
  ApiServiceUnavailable: 503
}

interface ApiErrorLike {
  readonly _tag: string
  readonly error: { readonly code: string; readonly message: string; readonly field?: string | undefined }
}

const tagOf = (u: unknown): string | undefined =>
  Predicate.hasProperty(u, "_tag") && Predicate.isString(u._tag) ? u._tag : undefined

const isApiError = (u: unknown): u is ApiErrorLike =>
  (tagOf(u) ?? "") in apiStatus && Predicate.hasProperty(u, "error") && Predicate.isObject(u.error)

/** What to print and which exit code, for the failure that ended the program. */
export interface Outcome {
  readonly code: number
  /** printed to stderr (prefixed with `tasker: `) unless undefined */
  readonly line: string | undefined
}

const usage = (line: string): Outcome => ({ code: EXIT_USAGE, line: oneLine(line) })
const failure = (line: string): Outcome => ({ code: EXIT_FAILURE, line: oneLine(line) })

/** Classifies a failure (the program's `Cause`) into an exit code and a line for stderr. */
export const outcomeOf = (cause: Cause.Cause<unknown>): Outcome => {
  if (Cause.hasInterruptsOnly(cause)) return { code: EXIT_OK, line: undefined }
  const error = Cause.squash(cause)
  if (CliError.isCliError(error)) {
    // parse errors were presented by the runner already; other CLI errors carry a message of their own
    return error._tag === "ShowHelp" ? { code: EXIT_USAGE, line: undefined } : usage(error.message)
  }
  if (error instanceof UsageError) return usage(error.message)
  // the API refused to listen on a non-loopback host without credentials: a configuration to change (exit 2)
  if (tagOf(error) === "UnsafeBind" && error instanceof Error) return usage(error.message)
  if (error instanceof CommandFailed) return failure(error.message)
  if (isApiError(error)) {
    const status = apiStatus[error._tag]!
    const { field, message: said } = error.error
    // a message that starts with its field (`context.even_number: Expected …`) is not prefixed with it twice
    const reason = field !== undefined && said.startsWith(`${field}: `) ? said.slice(field.length + 2) : said
    const line = `the API answered ${status} ${error.error.code}${field === undefined ? "" : ` (field ${field})`}: ${reason}`
    return status < 500 ? usage(line) : failure(line)
  }
  if (HttpClientError.isHttpClientError(error)) {
    const reason = error.reason
    if (reason._tag === "TransportError" || reason._tag === "InvalidUrlError") {
      const detail = describeCause(reason.cause) ?? reason.description ?? reason._tag
      return usage(`cannot reach the tasker API at ${originOf(reason.request.url)} (--url): ${detail}`)
    }
    return failure(`request to the tasker API failed: ${error.message}`)
  }
  const tag = tagOf(error)
  const message = error instanceof Error ? error.message : Predicate.isString(error) ? error : String(error)
  // an invalid environment variable: the message names it (`… at ["TASKER_API_PORT"]`)
  if (tag === "ConfigError") return usage(`invalid configuration: ${message.replace(/\s+/g, " ")}`)
  if (tag === "TaskWaitTimeout") return failure(message)
  // a URL without a user where neither PGUSER nor the operating system names one
  if (tag === "DatabaseUserMissing") return usage(`DATABASE_URL: ${message}`)
  const detail = Predicate.isObject(error) ? describeCause(nestedCause(error)) : undefined
  const text = message.trim().length > 0 ? message : tag ?? Cause.pretty(cause)
  return failure(detail === undefined || text.includes(detail) ? text : `${text}: ${detail}`)
}

const originOf = (url: string): string => {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}

/** What an error wraps: its `reason` (effect/sql's errors) or its `cause`. */
const nestedCause = (error: object): unknown => {
  const e = error as { reason?: unknown; cause?: unknown }
  const reason = typeof e.reason === "object" && e.reason !== null ? (e.reason as { cause?: unknown }) : undefined
  return reason?.cause ?? e.cause
}

/** The most specific description of a failure's cause chain (`connect ECONNREFUSED 127.0.0.1:5432`, …). */
const describeCause = (cause: unknown): string | undefined => {
  let current: unknown = cause
  let withCode: string | undefined
  let deepest: string | undefined
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const c = current as { message?: unknown; code?: unknown; cause?: unknown }
    const message = typeof c.message === "string" && c.message.length > 0 ? c.message : undefined
    if (typeof c.code === "string") withCode = message ?? c.code
    if (message !== undefined) deepest = message
    current = c.cause
  }
  return withCode ?? deepest
}
