import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Scope } from "effect"
import { telemetryLayerFromEnv } from "../../layers/telemetry.ts"
import { captureConsole } from "./Console.ts"
import { logRecords, startOtlpReceiver } from "./OtlpReceiver.ts"

describe("telemetryLayerFromEnv with OTLP export on", () => {
  it.live("keeps the JSON console logger (trace ids, module levels) and exports the same logs over OTLP", () =>
    Effect.gen(function*() {
      const receiver = yield* startOtlpReceiver
      const env = {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "60000",
        LOG_FORMAT: "json",
        LOG_LEVEL: "info",
        TASKER_LOG_LEVELS: "noisy=Warn"
      }
      const lines = yield* captureConsole(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const telemetry = yield* Layer.buildWithScope(telemetryLayerFromEnv, scope).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))
        )
        yield* Effect.gen(function*() {
          yield* Effect.logInfo("plain info", { n: 1 })
          yield* Effect.logDebug("plain debug")
          yield* Effect.logInfo("noisy info").pipe(Effect.annotateLogs("module", "noisy"))
          yield* Effect.logWarning("noisy warning").pipe(Effect.annotateLogs("module", "noisy"))
        }).pipe(Effect.withSpan("test.logging"), Effect.provideContext(telemetry as Context.Context<never>))
        // releasing the layer flushes the log exporter
        yield* Scope.close(scope, yield* Effect.exit(Effect.void))
      }))

      const stdout = lines.map((l) => JSON.parse(l) as Record<string, any>)
      assert.deepStrictEqual(stdout.map((l) => l.message), ["plain info", "noisy warning"])
      assert.strictEqual(stdout[0]!.n, 1)
      for (const line of stdout) {
        assert.match(line.trace_id, /^[0-9a-f]{32}$/)
        assert.match(line.span_id, /^[0-9a-f]{16}$/)
      }
      const exported = logRecords(receiver.received).map((r) => r.body)
      assert.isTrue(exported.some((b) => b.includes("plain info")), "plain info exported")
      assert.isTrue(exported.some((b) => b.includes("noisy warning")), "noisy warning exported")
      assert.isFalse(exported.some((b) => b.includes("noisy info")), "the module level applies to OTLP too")
      assert.isFalse(exported.some((b) => b.includes("plain debug")))
    }), { timeout: 30_000 })
})
