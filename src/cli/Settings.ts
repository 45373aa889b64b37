/**
 * Configuration of the `tasker` commands that run an engine or open a database. Every setting is an environment
 * variable read through Effect `Config` (the same variables the library's layers read: `postgresLayerFromEnv`,
 * `embeddedLayerFromEnv`, `telemetryLayerFromEnv`, `engineConfigFromEnv`); a command-line flag overrides its variable for this
 * run (`Flags.ts`). `withSettings(overrides)` installs the flags as a config provider in front of the environment,
 * so a flag always wins and every layer sees the same value. docs/configuration.md lists every variable.
 *
 * It also sets up logging for a command (to stderr, so stdout carries only the command's output) and picks the
 * database: PostgreSQL when `DATABASE_URL` is set, else the embedded PGlite database (in memory, or in
 * `TASKER_EMBEDDED_DATA_DIR`).
 */
import { ConfigProvider, Effect, Layer, Logger, Option, Redacted } from "effect"
import { GlobalFlag } from "effect/cli"
import { type DatabaseChoice as EnvDatabaseChoice, databaseChoiceFromEnv } from "../../layers/database.ts"
import { telemetryLayerFromEnv } from "../../layers/telemetry.ts"
import { registerSecret, UsageError } from "./Failure.ts"
import type { Overrides } from "./Flags.ts"

/** Logs go to stderr (the console loggers follow `Logger.LogToStderr`), so stdout stays for command output. */
const StderrLoggers = Layer.succeed(Logger.LogToStderr, true)

/**
 * Runs a command's program with the overrides in front of the environment and with telemetry (logging to stderr,
 * OTLP export when enabled) provided outermost. The global `--log-level` flag overrides `LOG_LEVEL`.
 */
export const withSettings = (overrides: Overrides) => <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const level = yield* GlobalFlag.LogLevel
    const all = Option.isSome(level) ? { ...overrides, LOG_LEVEL: level.value } : overrides
    const Telemetry = StderrLoggers.pipe(Layer.provideMerge(telemetryLayerFromEnv))
    return yield* program.pipe(
      Effect.provide(Telemetry),
      Effect.provide(ConfigProvider.layerAdd(ConfigProvider.fromUnknown(all), { asPrimary: true }))
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------------------------------

/** The database the environment names (`databaseChoiceFromEnv`), with the line that describes it. */
export type DatabaseChoice = EnvDatabaseChoice & { readonly description: string }

/** Where a PostgreSQL URL points, without credentials or parameters: `database "x" on host:port`. */
const describeUrl = (url: string): string => {
  try {
    const u = new URL(url)
    const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || "(default database)"
    return `database "${database}" on ${u.host || "the local socket"}`
  } catch {
    return "the configured server"
  }
}

/**
 * `databaseChoiceFromEnv`, checked (a `DATABASE_URL` that is not a `postgres://` URL is a usage error; the URL is
 * registered as a secret, so it never appears in output) and described.
 */
export const databaseChoice = Effect.gen(function*() {
  const choice = yield* databaseChoiceFromEnv
  if (choice._tag === "Postgres") {
    registerSecret(choice.url)
    const text = Redacted.value(choice.url)
    if (!/^postgres(ql)?:\/\//.test(text)) {
      return yield* new UsageError({
        field: "DATABASE_URL",
        message: "DATABASE_URL (or --database-url) must be a postgres:// or postgresql:// URL"
      })
    }
    return { ...choice, description: `Using PostgreSQL (DATABASE_URL): ${describeUrl(text)}` } satisfies DatabaseChoice as DatabaseChoice
  }
  return {
    ...choice,
    description: choice.dataDir === undefined
      ? "Using the embedded database (in memory); set DATABASE_URL to use PostgreSQL"
      : `Using the embedded database in ${choice.dataDir}; set DATABASE_URL to use PostgreSQL`
  } satisfies DatabaseChoice as DatabaseChoice
})
