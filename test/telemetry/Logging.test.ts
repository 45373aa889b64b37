import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger } from "effect"
import { LoggingLayer, loggingLayer, type LoggingOptions, loggingOptionsFromEnv } from "../../src/telemetry/Logging.ts"
import { captureConsole } from "./Console.ts"

const jsonLines = (options: LoggingOptions, self: Effect.Effect<unknown>) =>
  captureConsole(self.pipe(Effect.provide(loggingLayer(options)))).pipe(
    Effect.map((lines) => lines.map((l) => JSON.parse(l) as Record<string, any>))
  )

const fromEnv = (env: Record<string, string>) =>
  loggingOptionsFromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))

describe("JSON logger", () => {
  it.effect("renders arrays in the message and errors as an error object", () =>
    Effect.gen(function*() {
      class PaymentError extends Error {
        readonly code = "CARD_DECLINED"
      }
      const [line] = yield* jsonLines(
        { format: "json", level: "Info" },
        Effect.logInfo("charge failed", [1, 2, { id: "a" }], { attempt: 2 }, new PaymentError("declined", { cause: new Error("issuer") }))
      )
      assert.strictEqual(line!.message, `charge failed [1,2,{"id":"a"}]`)
      assert.strictEqual(line!.attempt, 2)
      assert.strictEqual(line!.error.name, "Error")
      assert.strictEqual(line!.error.message, "declined")
      assert.strictEqual(line!.error.code, "CARD_DECLINED")
      assert.match(line!.error.stack, /declined/)
      assert.strictEqual(line!.error.cause.message, "issuer")
    }))

  it.effect("several errors become an errors array; dates, bigints and cycles do not break the line", () =>
    Effect.gen(function*() {
      const cyclic: Record<string, unknown> = { n: 1 }
      cyclic.self = cyclic
      const lines = yield* jsonLines(
        { format: "json", level: "Info" },
        Effect.andThen(
          Effect.logWarning("two", new TypeError("a"), new RangeError("b")),
          Effect.logInfo("values", new Date(0), 12n, cyclic)
        )
      )
      assert.deepStrictEqual(lines[0]!.errors.map((e: any) => [e.name, e.message]), [["TypeError", "a"], ["RangeError", "b"]])
      assert.strictEqual(lines[1]!.message, "values 1970-01-01T00:00:00.000Z 12")
      assert.strictEqual(lines[1]!.n, 1)
    }))

  it.effect("module levels filter the console; trace ids are on every line inside a span", () =>
    Effect.gen(function*() {
      const lines = yield* jsonLines(
        { format: "json", level: "Info", moduleLevels: { worker: "Debug", orchestration: "Warn" } },
        Effect.gen(function*() {
          yield* Effect.logDebug("worker debug").pipe(Effect.annotateLogs("loop", "worker.payments"))
          yield* Effect.logInfo("orchestration info").pipe(Effect.annotateLogs("loop", "orchestration.results"))
          yield* Effect.logWarning("orchestration warn").pipe(Effect.annotateLogs("loop", "orchestration.results"))
          yield* Effect.logDebug("plain debug")
          yield* Effect.logInfo("plain info")
        }).pipe(Effect.withSpan("test"))
      )
      assert.deepStrictEqual(lines.map((l) => l.message), ["worker debug", "orchestration warn", "plain info"])
      for (const line of lines) assert.match(line.trace_id, /^[0-9a-f]{32}$/)
    }))
})

describe("logging configuration", () => {
  it.effect("LOG_LEVEL is case-insensitive and accepts Warning", () =>
    Effect.gen(function*() {
      for (const value of ["warn", "WARN", "Warn", "Warning", " warning "]) {
        assert.strictEqual((yield* fromEnv({ LOG_LEVEL: value })).level, "Warn", value)
      }
      assert.strictEqual((yield* fromEnv({ LOG_LEVEL: "debug" })).level, "Debug")
      assert.strictEqual((yield* fromEnv({})).level, "Info")
    }))

  it.effect("the default LOG_FORMAT follows the stream the logs go to: pretty on a terminal, else json", () =>
    Effect.gen(function*() {
      // as `tasker serve 2> tasker.log` (stdout a terminal, stderr a file) and `tasker serve > out` (the reverse)
      const formatWhen = (terminal: "stdout" | "stderr", toStderr: boolean) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            const saved = [process.stdout.isTTY, process.stderr.isTTY] as const
            Object.defineProperty(process.stdout, "isTTY", { value: terminal === "stdout", configurable: true, writable: true })
            Object.defineProperty(process.stderr, "isTTY", { value: terminal === "stderr", configurable: true, writable: true })
            return saved
          }),
          () => fromEnv({}).pipe(Effect.map((o) => o.format), Effect.provideService(Logger.LogToStderr, toStderr)),
          ([stdout, stderr]) =>
            Effect.sync(() => {
              Object.defineProperty(process.stdout, "isTTY", { value: stdout, configurable: true, writable: true })
              Object.defineProperty(process.stderr, "isTTY", { value: stderr, configurable: true, writable: true })
            })
        )
      assert.strictEqual(yield* formatWhen("stdout", true), "json", "logs to stderr, a file: json")
      assert.strictEqual(yield* formatWhen("stderr", true), "pretty", "logs to stderr, a terminal: pretty")
      assert.strictEqual(yield* formatWhen("stdout", false), "pretty", "logs to stdout, a terminal: pretty")
      assert.strictEqual(yield* formatWhen("stderr", false), "json", "logs to stdout, a file: json")
    }))

  it.effect("an unknown LOG_LEVEL fails with an error naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ LOG_LEVEL: "verbose" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "LOG_LEVEL")
      assert.include(error.message, "verbose")
    }))

  it.effect("TASKER_LOG_LEVELS: case-insensitive levels; an unknown level or a malformed pair fails at start-up", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        (yield* fromEnv({ TASKER_LOG_LEVELS: "worker=debug, orchestration=WARN,error=Error" })).moduleLevels,
        { worker: "Debug", orchestration: "Warn", error: "Error" }
      )
      const unknown = yield* Effect.flip(fromEnv({ TASKER_LOG_LEVELS: "worker=Debug,orchestration=Loud" }))
      assert.strictEqual(unknown._tag, "ConfigError")
      assert.include(unknown.message, "TASKER_LOG_LEVELS")
      assert.include(unknown.message, "Loud")
      const malformed = yield* Effect.flip(fromEnv({ TASKER_LOG_LEVELS: "worker" }))
      assert.include(malformed.message, "TASKER_LOG_LEVELS")
      // the layer fails to build with it
      const built = yield* Effect.flip(
        Layer.build(LoggingLayer).pipe(
          Effect.scoped,
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { TASKER_LOG_LEVELS: "worker=Chatty" } })
          )
        )
      )
      assert.include(String(built.message), "TASKER_LOG_LEVELS")
    }))
})
