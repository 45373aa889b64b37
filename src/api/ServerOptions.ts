/**
 * Where and how the API server listens: host, port, token, body limit, request logging — in code
 * (`ApiServerOptions`) or from the environment (`apiServerOptionsFromEnv`).
 */
import { Config, Context, Effect, Option, Redacted, Schema } from "effect"
import { DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT } from "./RateLimit.ts"

export interface ApiServerOptions {
  /** interface to listen on (default 127.0.0.1) */
  readonly host?: string | undefined
  /** port (default 8080; 0 picks a free port, read it from `HttpServer.HttpServer`'s `address`) */
  readonly port?: number | undefined
  /** when set, every `/v1` request needs `Authorization: Bearer <token>` or `X-API-Key: <token>` */
  readonly token?: Redacted.Redacted<string> | string | undefined
  /** the largest request body accepted (default 1 MiB); larger bodies are a 413 */
  readonly maxBodyBytes?: number | undefined
  /** log one line per request (default true) */
  readonly logRequests?: boolean | undefined
  /** the largest task context accepted, as JSON text (default 256 KiB); larger is a 413 naming the field */
  readonly maxContextBytes?: number | undefined
  /** the most context bytes one `GET /v1/tasks?include=context` page carries (default 1 MiB) */
  readonly listContextBudgetBytes?: number | undefined
  /**
   * Host header values accepted (names or addresses, without port). Default: when the server listens on a
   * loopback address, loopback names only (`localhost`, `*.localhost`, `127.x.x.x`, `::1`), which keeps a
   * DNS-rebinding web page away from a developer's local API; on another address, any Host. `["*"]`: any Host.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  /** requests per second per caller (a key id, or the client address without authentication); default 50 */
  readonly rateLimit?: number | undefined
  /** requests a caller may make at once before the rate applies; default 100 */
  readonly rateBurst?: number | undefined
  /**
   * Serve a non-loopback host without any credential (no token, no API key). Off by default: `apiServerLayer`
   * refuses to start that way (`UnsafeBind`).
   */
  readonly allowUnauthenticated?: boolean | undefined
  /**
   * a trace viewer's URL with `{traceId}` where a task's trace id goes (`https://jaeger.example/trace/{traceId}`):
   * the dashboard links a task's trace with it (`GET /v1/ui_config`)
   */
  readonly traceUrl?: string | undefined
  /**
   * how often the event stream (`GET /v1/events`) sends a heartbeat comment (default 15 s); its first lines say
   * so, and the dashboard takes three heartbeats of silence for a dead connection and reconnects
   */
  readonly eventHeartbeatMs?: number | undefined
}

export const DEFAULT_API_HOST = "127.0.0.1"
export const DEFAULT_API_PORT = 8080
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
export const DEFAULT_MAX_CONTEXT_BYTES = 256 * 1024
export const DEFAULT_LIST_CONTEXT_BUDGET_BYTES = 1024 * 1024

/**
 * Query parameters whose values the server's request spans and logs show as `<redacted>`: all of them. A query
 * string may carry a secret (`?token=…`, a misplaced API key) and traces leave the process (OTLP), so `url.full`
 * and `url.query` keep the names only.
 */
export const REDACTED_QUERY_NAMES: ReadonlyArray<RegExp> = [/^/]

/** The per-request limits the handlers apply (`apiRoutesLayer` provides them from `ApiServerOptions`). */
export const ApiLimits = Context.Reference<{
  readonly maxContextBytes: number
  readonly listContextBudgetBytes: number
}>("tasker/api/ApiLimits", {
  defaultValue: () => ({
    maxContextBytes: DEFAULT_MAX_CONTEXT_BYTES,
    listContextBudgetBytes: DEFAULT_LIST_CONTEXT_BUDGET_BYTES
  })
})

/**
 * What the dashboard learns from `GET /v1/ui_config` besides whether authentication is on (which the request's caller
 * tells: `isAnonymous`); `apiRoutesLayer` provides it from `ApiServerOptions`.
 */
export const UiSettings = Context.Reference<{
  readonly traceUrlTemplate: string | null
}>("tasker/api/UiSettings", { defaultValue: () => ({ traceUrlTemplate: null }) })

export const DEFAULT_EVENT_HEARTBEAT_MS = 15_000

/** The event stream's settings (`apiRoutesLayer` provides them from `ApiServerOptions`). */
export const EventStreamSettings = Context.Reference<{
  readonly heartbeatMs: number
}>("tasker/api/EventStreamSettings", { defaultValue: () => ({ heartbeatMs: DEFAULT_EVENT_HEARTBEAT_MS }) })

/** A trace viewer URL template: http(s), with `{traceId}` in it. */
export const TraceUrlTemplate = Schema.String.check(Schema.makeFilter<string>(
  (s) => /^https?:\/\/[^\s]+$/.test(s) && s.includes("{traceId}"),
  { expected: "an http(s) URL containing {traceId}, e.g. https://jaeger.example/trace/{traceId}" }
))

/** The shortest `TASKER_API_TOKEN` accepted: a guessable token is no protection. */
export const MIN_API_TOKEN_LENGTH = 16

/** `TASKER_API_TOKEN` is set but cannot protect the API (empty, or shorter than `MIN_API_TOKEN_LENGTH`). */
export class InvalidApiToken extends Schema.TaggedError<InvalidApiToken>()("InvalidApiToken", {
  variable: Schema.String,
  message: Schema.String
}) {}

/**
 * `TASKER_API_TOKEN`: absent (undefined: authentication off), or a token of at least `MIN_API_TOKEN_LENGTH`
 * characters. Set but empty — an unset `${VAR}` in a compose file, a missing secret — is an error, not "no token":
 * it would turn authentication off without a word.
 */
export const apiTokenFromEnv = Effect.gen(function*() {
  const token = yield* Config.Redacted("TASKER_API_TOKEN").pipe(Config.option)
  if (Option.isNone(token)) {
    // (Effect's environment provider reads an empty variable as a missing one)
    if (process.env["TASKER_API_TOKEN"] === undefined) return undefined
    return yield* new InvalidApiToken({
      variable: "TASKER_API_TOKEN",
      message: "TASKER_API_TOKEN is set but empty: set a secret of at least " +
        `${MIN_API_TOKEN_LENGTH} characters, or unset the variable to run without authentication`
    })
  }
  if (Redacted.value(token.value).trim().length < MIN_API_TOKEN_LENGTH) {
    return yield* new InvalidApiToken({
      variable: "TASKER_API_TOKEN",
      message: `TASKER_API_TOKEN is shorter than ${MIN_API_TOKEN_LENGTH} characters: use a longer secret ` +
        "(e.g. openssl rand -hex 24)"
    })
  }
  return token.value
})

/** Positive numbers of requests (`TASKER_API_RATE_LIMIT`, `TASKER_API_RATE_BURST`). */
const positiveNumber = (name: string, fallback: number) =>
  Config.schema(Schema.Number.check(Schema.isGreaterThan(0)), name).pipe(Config.withDefault(fallback))

/**
 * The API would listen on a non-loopback address with no credential at all (no `TASKER_API_TOKEN`, no API key):
 * anyone who can reach the address could read and operate every task. Refused unless
 * `allowUnauthenticated` (`--allow-unauthenticated`, `TASKER_API_ALLOW_UNAUTHENTICATED=true`).
 */
export class UnsafeBind extends Schema.TaggedError<UnsafeBind>()("UnsafeBind", {
  host: Schema.String,
  message: Schema.String
}) {}

/** A port to listen on: 0 to 65535, where 0 lets the system pick a free one. */
export const ListenPort = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/** Positive byte counts (`TASKER_API_MAX_CONTEXT_BYTES`, …). */
const byteCount = (name: string, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThan(0)), name).pipe(Config.withDefault(fallback))

/**
 * Options from the environment: `TASKER_API_HOST` (default 127.0.0.1), `TASKER_API_PORT` (default 8080; 0 picks a
 * free port), `TASKER_API_TOKEN` (optional: turns authentication on; `apiTokenFromEnv`),
 * `TASKER_API_MAX_BODY_BYTES` (default 1048576), `TASKER_API_MAX_CONTEXT_BYTES` (default 262144),
 * `TASKER_API_LIST_CONTEXT_BUDGET_BYTES` (default 1048576), `TASKER_API_ALLOWED_HOSTS` (comma-separated; `*` for
 * any; default: see `ApiServerOptions.allowedHosts`), `TASKER_API_RATE_LIMIT` (requests/s per caller, default 50),
 * `TASKER_API_RATE_BURST` (default 100), `TASKER_API_ALLOW_UNAUTHENTICATED` (default false), `TASKER_TRACE_URL` (optional: a trace viewer URL with
 * `{traceId}`).
 */
export const apiServerOptionsFromEnv = Effect.gen(function*() {
  const host = yield* Config.String("TASKER_API_HOST").pipe(Config.withDefault(DEFAULT_API_HOST))
  const port = yield* Config.schema(ListenPort, "TASKER_API_PORT").pipe(Config.withDefault(DEFAULT_API_PORT))
  const token = yield* apiTokenFromEnv
  const maxBodyBytes = yield* byteCount("TASKER_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
  const maxContextBytes = yield* byteCount("TASKER_API_MAX_CONTEXT_BYTES", DEFAULT_MAX_CONTEXT_BYTES)
  const listContextBudgetBytes = yield* byteCount("TASKER_API_LIST_CONTEXT_BUDGET_BYTES", DEFAULT_LIST_CONTEXT_BUDGET_BYTES)
  const allowedHosts = yield* Config.String("TASKER_API_ALLOWED_HOSTS").pipe(
    Config.map((text) => text.split(",").map((h) => h.trim()).filter((h) => h.length > 0)),
    Config.option,
    Effect.map(Option.getOrUndefined)
  )
  const rateLimit = yield* positiveNumber("TASKER_API_RATE_LIMIT", DEFAULT_RATE_LIMIT)
  const rateBurst = yield* positiveNumber("TASKER_API_RATE_BURST", DEFAULT_RATE_BURST)
  const allowUnauthenticated = yield* Config.Boolean("TASKER_API_ALLOW_UNAUTHENTICATED").pipe(Config.withDefault(false))
  const traceUrl = yield* Config.schema(TraceUrlTemplate, "TASKER_TRACE_URL").pipe(
    Config.option,
    Effect.map(Option.getOrUndefined)
  )
  return {
    host,
    port,
    token,
    rateLimit,
    rateBurst,
    allowUnauthenticated,
    traceUrl,
    maxBodyBytes,
    maxContextBytes,
    listContextBudgetBytes,
    allowedHosts
  } satisfies ApiServerOptions
})
