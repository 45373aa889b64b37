/**
 * Where and how the API server listens: host, port, token, body limit, request logging — in code
 * (`ApiServerOptions`) or from the environment (`apiServerOptionsFromEnv`).
 */
import { Config, Effect, Option, type Redacted, Schema } from "effect"

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

/** A port to listen on: 0 to 65535, where 0 lets the system pick a free one. */
export const ListenPort = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/**
 * Options from the environment: `TASKER_API_HOST` (default 127.0.0.1), `TASKER_API_PORT` (default 8080; 0 picks a free port),
 * `TASKER_API_TOKEN` (optional: turns authentication on), `TASKER_API_MAX_BODY_BYTES` (default 1048576).
 */
export const apiServerOptionsFromEnv = Effect.gen(function*() {
  const host = yield* Config.String("TASKER_API_HOST").pipe(Config.withDefault(DEFAULT_API_HOST))
  const port = yield* Config.schema(ListenPort, "TASKER_API_PORT").pipe(Config.withDefault(DEFAULT_API_PORT))
  const token = yield* Config.Redacted("TASKER_API_TOKEN").pipe(Config.option)
  const maxBodyBytes = yield* Config.Int("TASKER_API_MAX_BODY_BYTES").pipe(Config.withDefault(DEFAULT_MAX_BODY_BYTES))
  return {
    host,
    port,
    token: Option.getOrUndefined(token),
    maxBodyBytes
  } satisfies ApiServerOptions
})
