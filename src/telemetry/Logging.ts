/**
 * Logging: structured JSON (one object per line) or pretty console output, through Effect's logger, so handler
 * code that logs with `Effect.log*` gets the same treatment — including the correlation ID of the step it runs.
 *
 * A JSON line: `{"timestamp", "level", "message", "correlation_id", "parent_correlation_id", "task_uuid",
 * "step_uuid", …annotations, "trace_id", "span_id", "cause"}` (absent fields are left out).
 *
 * Levels: `LOG_LEVEL` (All, Trace, Debug, Info — the default —, Warn, Error, Fatal, None) and per-module overrides in
 * `TASKER_LOG_LEVELS` (`worker=Debug,orchestration=Warn`: a module is the first part of a log's `loop` annotation,
 * e.g. `worker.payments` → `worker`, or its `module` annotation). Messages below every configured level are
 * dropped by Effect before any formatting (`References.MinimumLogLevel`), so disabled levels cost nothing.
 */
import { Config, Context, Effect, Layer, Logger, LogLevel, References, Tracer } from "effect"

export type LogFormat = "json" | "pretty"

const levelOrder: Record<string, number> = { All: 0, Trace: 1, Debug: 2, Info: 3, Warn: 4, Error: 5, Fatal: 6, None: 7 }

export interface LoggingOptions {
  readonly format: LogFormat
  readonly level: LogLevel.LogLevel
  /** module → level */
  readonly moduleLevels?: Readonly<Record<string, LogLevel.LogLevel>>
}

const moduleOf = (annotations: Readonly<Record<string, unknown>>): string | undefined => {
  const value = annotations.module ?? annotations.loop
  return typeof value === "string" ? value.split(".")[0] : undefined
}

/** A JSON line per log entry, with trace and span ids of the current span. */
export const jsonLine = (options: Logger.Options<unknown>): string => {
  const structured = Logger.formatStructured.log(options)
  const span = Context.getOrUndefined(options.fiber.context, Tracer.ParentSpan)
  // Effect.log("message", { field: … }) arrives as an array: the first string is the message, objects are fields
  const parts = Array.isArray(structured.message) ? structured.message : [structured.message]
  const text = parts.filter((p) => typeof p !== "object" || p === null).map(String).join(" ")
  const fields = Object.assign({}, ...parts.filter((p) => typeof p === "object" && p !== null && !Array.isArray(p)))
  const entry: Record<string, unknown> = {
    timestamp: structured.timestamp,
    level: structured.level,
    message: text,
    ...structured.annotations,
    ...fields
  }
  if (span !== undefined) {
    entry.trace_id = span.traceId
    entry.span_id = span.spanId
  }
  if (structured.cause !== undefined && structured.cause !== "") entry.cause = structured.cause
  return JSON.stringify(entry, (_, v) => (typeof v === "bigint" ? v.toString() : v))
}

/** Loggers and minimum level for the options; replaces the default logger. */
export const loggingLayer = (options: LoggingOptions) => {
  const moduleLevels = options.moduleLevels ?? {}
  const levels = [options.level, ...Object.values(moduleLevels)]
  const minimum = levels.reduce((a, b) => (levelOrder[a]! <= levelOrder[b]! ? a : b))
  const base = options.format === "json"
    ? Logger.make((o) => {
      globalThis.console.log(jsonLine(o))
    })
    : Logger.consolePretty()
  const filtered = Object.keys(moduleLevels).length === 0 ? base : Logger.make((o: Logger.Options<unknown>) => {
    const annotations = o.fiber.getRef(References.CurrentLogAnnotations)
    const module = moduleOf(annotations)
    const threshold = (module === undefined ? undefined : moduleLevels[module]) ?? options.level
    if (levelOrder[o.logLevel]! >= levelOrder[threshold]!) base.log(o)
  })
  return Layer.mergeAll(
    Logger.layer([filtered]),
    Layer.succeed(References.MinimumLogLevel, minimum)
  )
}

const parseModuleLevels = (text: string): Record<string, LogLevel.LogLevel> =>
  Object.fromEntries(
    text.split(",").map((pair) => pair.trim()).filter((pair) => pair.includes("=")).map((pair) => {
      const [module, level] = pair.split("=") as [string, string]
      const normalized = Object.keys(levelOrder).find((l) => l.toLowerCase() === level.trim().toLowerCase())
      return [module.trim(), (normalized ?? "Info") as LogLevel.LogLevel]
    })
  )

/**
 * Logging configured from the environment: `LOG_FORMAT` (json | pretty; default json, pretty on a terminal),
 * `LOG_LEVEL` (default Info), `TASKER_LOG_LEVELS` (module overrides).
 */
export const LoggingLayer = Layer.unwrap(
  Effect.gen(function*() {
    const format = yield* Config.Literals(["json", "pretty"], "LOG_FORMAT").pipe(
      Config.withDefault(process.stdout.isTTY === true ? "pretty" as const : "json" as const)
    )
    const level = yield* Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as LogLevel.LogLevel))
    const modules = yield* Config.String("TASKER_LOG_LEVELS").pipe(Config.withDefault(""))
    return loggingLayer({ format, level, moduleLevels: parseModuleLevels(modules) })
  })
)
