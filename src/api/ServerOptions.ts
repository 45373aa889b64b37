/**
 * Where and how the API server listens: host, port, token, body limit, request logging — in code
 * (`ApiServerOptions`) or from the environment (`apiServerOptionsFromEnv`).
 */
import { Config, Effect, Option, Redacted, Schema } from "effect"

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
}

export const DEFAULT_API_HOST = "127.0.0.1"
export const DEFAULT_API_PORT = 8080
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/**
 * Query parameters whose values the server's request spans and logs show as `<redacted>`: all of them. A query
 * string may carry a secret (`?token=…`, a misplaced API key) and traces leave the process (OTLP), so `url.full`
 * and `url.query` keep the names only.
 */
export const REDACTED_QUERY_NAMES: ReadonlyArray<RegExp> = [/^/]

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

/** A port to listen on: 0 to 65535, where 0 lets the system pick a free one. */
export const ListenPort = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/**
 * Options from the environment: `TASKER_API_HOST` (default 127.0.0.1), `TASKER_API_PORT` (default 8080; 0 picks a free port),
 * `TASKER_API_TOKEN` (optional: turns authentication on; `apiTokenFromEnv`), `TASKER_API_MAX_BODY_BYTES` (default
 * 1048576).
 */
export const apiServerOptionsFromEnv = Effect.gen(function*() {
  const host = yield* Config.String("TASKER_API_HOST").pipe(Config.withDefault(DEFAULT_API_HOST))
  const port = yield* Config.schema(ListenPort, "TASKER_API_PORT").pipe(Config.withDefault(DEFAULT_API_PORT))
  const token = yield* apiTokenFromEnv
  const maxBodyBytes = yield* Config.Int("TASKER_API_MAX_BODY_BYTES").pipe(Config.withDefault(DEFAULT_MAX_BODY_BYTES))
  return { host, port, token, maxBodyBytes } satisfies ApiServerOptions
})
