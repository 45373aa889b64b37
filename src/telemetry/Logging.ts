/**
 * Logging: structured JSON (one object per line) or pretty console output, through Effect's logger, so handler
 * code that logs with `Effect.log*` gets the same treatment — including the correlation ID of the step it runs.
 *
 * A JSON line: `{"timestamp", "level", "message", "correlation_id", "parent_correlation_id", "task_uuid",
 * "step_uuid", …annotations, …fields, "error", "trace_id", "span_id", "cause"}` (absent fields are left out).
 * String, number, boolean and bigint arguments form the message, dates as ISO strings and arrays as JSON; the
 * properties of objects are fields; an `Error` becomes `error: {name, message, stack, …}` (several: `errors`).
 *
 * Levels: `LOG_LEVEL` (All, Trace, Debug, Info — the default —, Warn, Error, Fatal, None; any case, `Warning`
 * too) and per-module overrides in `TASKER_LOG_LEVELS` (`worker=Debug,orchestration=Warn`: a module is the first
 * part of a log's `module` annotation, else of its `loop` annotation, e.g. `worker.payments` → `worker`). An
 * unknown level in either variable fails at start-up.
 *
 * What a disabled level costs: Effect checks `References.MinimumLogLevel` before any logger runs, and nothing is
 * formatted. The call itself still runs (its arguments are evaluated and scanned for a `Cause`, the effect is
 * executed and the level compared): a fraction of a microsecond, a few `Effect.void` steps. The minimum is the
 * lowest of all configured levels, so a module override below `LOG_LEVEL` makes entries of that level reach the
 * loggers everywhere; the module check then drops the others (cached per annotation set), at roughly twice the
 * cost of a disabled level. docs/observability/logging.md has the measurements (`bench/logging.ts`).
 */
import {
  Cause,
  Config,
  Context,
  Effect,
  Inspectable,
  Layer,
  Logger,
  References,
  Result,
  Schema,
  SchemaGetter,
  SchemaIssue,
  Tracer
} from "effect"
import type { LogLevel } from "effect"

export type LogFormat = "json" | "pretty"

/** The log levels, lowest first. */
export const LOG_LEVELS = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"] as const

const levelOrder: Record<LogLevel.LogLevel, number> = { All: 0, Trace: 1, Debug: 2, Info: 3, Warn: 4, Error: 5, Fatal: 6, None: 7 }

export interface LoggingOptions {
  readonly format: LogFormat
  readonly level: LogLevel.LogLevel
  /** module → level */
  readonly moduleLevels?: Readonly<Record<string, LogLevel.LogLevel>>
}

/** The levels `loggingLayer` installed: the default level and the module overrides. */
export interface LevelFilter {
  readonly level: LogLevel.LogLevel
  readonly moduleLevels: Readonly<Record<string, LogLevel.LogLevel>>
}

/**
 * The level filter of the installed logging (provided by `loggingLayer`). `otlpLayer` reads it when it is built,
 * so that the OTLP log exporter drops what the console drops.
 */
export const CurrentLevelFilter = Context.Reference<LevelFilter | undefined>("tasker/telemetry/CurrentLevelFilter", {
  defaultValue: () => undefined
})

// --- level names -----------------------------------------------------------------------------------------------

/** A level name in any case (`warn`, `WARN`, `Warning`) → the level, or `undefined`. */
export const parseLogLevel = (text: string): LogLevel.LogLevel | undefined => {
  const lower = text.trim().toLowerCase()
  if (lower === "warning") return "Warn"
  return LOG_LEVELS.find((l) => l.toLowerCase() === lower)
}

const levelList = LOG_LEVELS.join(", ")

/** A decoding getter from a string: `parse` fails with the issue's message. */
const parseOrFail = <T>(parse: (text: string) => Result.Result<T, string>) =>
  SchemaGetter.transformEffect<T, string>((text, options) => {
    const parsed = parse(text)
    return Result.isSuccess(parsed)
      ? Effect.succeed(parsed.success)
      : Effect.fail(new SchemaIssue.InvalidValue({ message: parsed.failure }, text, options))
  })

/** A level name, case-insensitive (`Config.LogLevel` wants the exact spelling). */
export const LogLevelFromString = Schema.String.pipe(Schema.decodeTo(Schema.Literals(LOG_LEVELS), {
  decode: parseOrFail((text) => {
    const level = parseLogLevel(text)
    return level === undefined
      ? Result.fail(`unknown log level "${text}" (expected one of ${levelList}, in any case)`)
      : Result.succeed(level)
  }),
  encode: SchemaGetter.transform((level: LogLevel.LogLevel) => level as string)
}))

/** `module=Level,…` → module levels; fails naming the offending pair. */
export const parseModuleLevels = (text: string): Result.Result<Record<string, LogLevel.LogLevel>, string> => {
  const result: Record<string, LogLevel.LogLevel> = {}
  for (const pair of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = pair.indexOf("=")
    const module = eq === -1 ? "" : pair.slice(0, eq).trim()
    if (module === "") return Result.fail(`"${pair}" is not a module=Level pair (e.g. worker=Debug,orchestration=Warn)`)
    const level = parseLogLevel(pair.slice(eq + 1))
    if (level === undefined) {
      return Result.fail(
        `unknown log level "${pair.slice(eq + 1).trim()}" for module "${module}" (expected one of ${levelList})`
      )
    }
    result[module] = level
  }
  return Result.succeed(result)
}

/** `TASKER_LOG_LEVELS` text → module levels. */
export const ModuleLevelsFromString = Schema.String.pipe(
  Schema.decodeTo(Schema.Record(Schema.String, Schema.Literals(LOG_LEVELS)), {
    decode: parseOrFail(parseModuleLevels),
    encode: SchemaGetter.transform((levels: Readonly<Record<string, LogLevel.LogLevel>>) =>
      Object.entries(levels).map(([m, l]) => `${m}=${l}`).join(",")
    )
  })
)

// --- JSON lines ------------------------------------------------------------------------------------------------

const structured = (u: unknown): unknown =>
  typeof u === "function" || typeof u === "symbol" ? String(u) : Inspectable.toJson(u)

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** An `Error` as JSON: name, message, stack, its own primitive fields (`code`, `_tag`, …) and its `cause`. */
export const errorJson = (error: Error, depth = 0): Record<string, unknown> => {
  const json: Record<string, unknown> = { name: error.name, message: error.message }
  for (const [key, value] of Object.entries(error)) {
    if (key === "cause" || key === "stack") continue
    if (value === null || ["string", "number", "boolean", "bigint"].includes(typeof value)) json[key] = value
  }
  if (error.stack !== undefined) json.stack = error.stack
  const cause = (error as { readonly cause?: unknown }).cause
  if (cause instanceof Error && depth < 3) json.cause = errorJson(cause, depth + 1)
  else if (cause !== undefined && cause !== null && typeof cause !== "object") json.cause = String(cause)
  return json
}

const bigints = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

/** JSON.stringify that survives bigints and cycles. */
const stringify = (value: unknown): string => {
  try {
    return JSON.stringify(value, bigints)
  } catch {
    const seen = new WeakSet<object>()
    return JSON.stringify(value, (key, v) => {
      const plain = bigints(key, v)
      if (typeof plain === "object" && plain !== null) {
        if (seen.has(plain)) return "[Circular]"
        seen.add(plain)
      }
      return plain
    })
  }
}

/** A JSON line per log entry, with trace and span ids of the current span. */
export const jsonLine = (options: Logger.Options<unknown>): string => {
  const parts: ReadonlyArray<unknown> = Array.isArray(options.message) ? options.message : [options.message]
  const text: Array<string> = []
  const fields: Record<string, unknown> = {}
  const errors: Array<Record<string, unknown>> = []
  for (const part of parts) {
    if (part instanceof Error) {
      errors.push(errorJson(part))
      continue
    }
    const value = structured(part)
    if (typeof value !== "object" || value === null) text.push(String(value))
    else if (value instanceof Date) text.push(Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString())
    else if (Array.isArray(value)) text.push(stringify(value))
    else if (isPlainObject(value)) Object.assign(fields, value)
    else if (value instanceof Error) errors.push(errorJson(value))
    else Object.assign(fields, value)
  }
  const entry: Record<string, unknown> = {
    timestamp: options.date.toISOString(),
    level: options.logLevel.toUpperCase(),
    message: text.join(" ")
  }
  for (const [key, value] of Object.entries(options.fiber.getRef(References.CurrentLogAnnotations))) {
    entry[key] = structured(value)
  }
  Object.assign(entry, fields)
  if (errors.length === 1) entry.error = errors[0]
  else if (errors.length > 1) entry.errors = errors
  const span = Context.getOrUndefined(options.fiber.context, Tracer.ParentSpan)
  if (span !== undefined) {
    entry.trace_id = span.traceId
    entry.span_id = span.spanId
  }
  if (options.cause.reasons.length > 0) {
    const cause = Cause.pretty(options.cause)
    if (cause !== "") entry.cause = cause
  }
  return stringify(entry)
}

// --- loggers ---------------------------------------------------------------------------------------------------

const moduleOf = (annotations: Readonly<Record<string, unknown>>): string | undefined => {
  const value = annotations.module ?? annotations.loop
  return typeof value === "string" ? value.split(".")[0] : undefined
}

/** The lowest level of the filter: `References.MinimumLogLevel`. */
export const minimumLevel = (filter: LevelFilter): LogLevel.LogLevel =>
  [filter.level, ...Object.values(filter.moduleLevels)].reduce((a, b) => (levelOrder[a] <= levelOrder[b] ? a : b))

/**
 * `logger`, passing on only the entries at or above their module's level (or the default level). Without module
 * levels, `References.MinimumLogLevel` does all the filtering and `logger` is returned as is.
 */
export const withLevelFilter = (filter: LevelFilter | undefined) =>
<M, O>(logger: Logger.Logger<M, O>): Logger.Logger<M, O | void> => {
  if (filter === undefined || Object.keys(filter.moduleLevels).length === 0) return logger
  const defaultOrder = levelOrder[filter.level]
  // an entry at or above every configured level passes without looking at its module
  const ceiling = Math.max(defaultOrder, ...Object.values(filter.moduleLevels).map((l) => levelOrder[l]))
  // the threshold of an annotation set: annotation sets are immutable and shared by a region's log calls
  const thresholds = new WeakMap<object, number>()
  return Logger.make((options: Logger.Options<M>): O | void => {
    const order = levelOrder[options.logLevel]
    if (order < ceiling) {
      const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
      let threshold = thresholds.get(annotations)
      if (threshold === undefined) {
        const module = moduleOf(annotations)
        const level = module === undefined ? undefined : filter.moduleLevels[module]
        threshold = level === undefined ? defaultOrder : levelOrder[level]
        thresholds.set(annotations, threshold)
      }
      if (order < threshold) return
    }
    return logger.log(options)
  })
}

/** Whether the stream the console loggers write to (stderr under `Logger.LogToStderr`, else stdout) is a terminal. */
const logStreamIsTTY = (toStderr: boolean): boolean => (toStderr ? process.stderr : process.stdout).isTTY === true

/**
 * The console logger of a format: JSON lines, or Effect's pretty logger. Both write to stdout, or to stderr when
 * `Logger.LogToStderr` is true (the `tasker` CLI sets it, so stdout stays for command output). The pretty logger
 * colors its lines only when the stream it writes to is a terminal (`tasker serve 2> file` on a terminal gets no
 * escape codes in the file).
 */
export const consoleLogger = (format: LogFormat): Logger.Logger<unknown, void> => {
  if (format === "json") {
    return Logger.make((o) => {
      const line = jsonLine(o)
      if (o.fiber.getRef(Logger.LogToStderr)) globalThis.console.error(line)
      else globalThis.console.log(line)
    })
  }
  const toStdout = Logger.consolePretty({ colors: logStreamIsTTY(false) })
  const toStderr = Logger.consolePretty({ colors: logStreamIsTTY(true) })
  return Logger.make((o) => (o.fiber.getRef(Logger.LogToStderr) ? toStderr : toStdout).log(o))
}

/**
 * The console logger (filtered by module levels) and the minimum level for the options; replaces every logger
 * installed before. Also provides the filter (`CurrentLevelFilter`), which `otlpLayer` applies to the OTLP log
 * exporter.
 */
export const loggingLayer = (options: LoggingOptions) => {
  const filter: LevelFilter = { level: options.level, moduleLevels: options.moduleLevels ?? {} }
  return Layer.mergeAll(
    Logger.layer([withLevelFilter(filter)(consoleLogger(options.format))]),
    Layer.succeed(References.MinimumLogLevel, minimumLevel(filter)),
    Layer.succeed(CurrentLevelFilter, filter)
  )
}

/**
 * The logging options from the environment: `LOG_FORMAT` (json | pretty; default json, pretty when the stream the
 * logs go to is a terminal: stderr under `Logger.LogToStderr`, as in the `tasker` CLI, else stdout), `LOG_LEVEL`
 * (default Info, any case), `TASKER_LOG_LEVELS` (module overrides). A value that is not valid fails with a
 * `ConfigError` naming the variable.
 */
export const loggingOptionsFromEnv: Effect.Effect<LoggingOptions, Config.ConfigError> = Effect.gen(function*() {
  const onTerminal = logStreamIsTTY(yield* Logger.LogToStderr)
  const format = yield* Config.Literals(["json", "pretty"], "LOG_FORMAT").pipe(
    Config.withDefault(onTerminal ? "pretty" as const : "json" as const)
  )
  const level = yield* Config.schema(LogLevelFromString, "LOG_LEVEL").pipe(Config.withDefault("Info" as const))
  const moduleLevels = yield* Config.schema(ModuleLevelsFromString, "TASKER_LOG_LEVELS").pipe(Config.withDefault({}))
  return { format, level, moduleLevels }
})

/** Logging configured from the environment (`loggingOptionsFromEnv`). */
export const LoggingLayer = Layer.unwrap(Effect.map(loggingOptionsFromEnv, loggingLayer))
