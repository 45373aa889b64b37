/**
 * Telemetry: logging (always) and, when enabled, OpenTelemetry export of traces, metrics and logs over OTLP through
 * `@effect/opentelemetry` and the official SDK.
 *
 * - The exporters follow the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
 *   `…_TRACES_/…_METRICS_/…_LOGS_ENDPOINT`), `OTEL_EXPORTER_OTLP_HEADERS`, and `OTEL_EXPORTER_OTLP_PROTOCOL`
 *   (`http/protobuf` — the default —, `grpc` or `http/json`) choose where and how they send. `OTEL_SERVICE_NAME`
 *   (default `tasker-effect`) names the service; `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60 000) paces metrics.
 * - Logs: the console logger of `loggingLayer` (JSON lines with `trace_id`/`span_id`, or pretty) stays in place,
 *   and the OTLP log exporter is added next to it. Both apply the same levels, module overrides included.
 * - Metrics go out with their units (`ms`, `{task}`, …; see `src/telemetry/Metrics.ts`); the `unit` attribute that
 *   carries the unit is removed from the data points.
 * - When the host application already runs an OpenTelemetry SDK (a global tracer provider is registered), the
 *   engine's spans join it instead of starting a second SDK; metrics and logs are then exported by a reader and a
 *   log processor of the engine's own on the same endpoint.
 * - Telemetry off (`TASKER_TELEMETRY=false`, the default unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set): no SDK layer
 *   at all. Metrics are still kept in memory for the Prometheus `/metrics` endpoint.
 */
import { Config, Effect, Layer, Option, Schema } from "effect"
import { CorrelationOnMetrics } from "../src/telemetry/Correlation.ts"
import { loggingLayer, loggingOptionsFromEnv } from "../src/telemetry/Logging.ts"
import { otlpLayer } from "../src/telemetry/Otlp.ts"
import { SeriesIdleIntervals } from "../src/telemetry/SeriesJanitor.ts"

/**
 * Logging plus, when enabled, OTLP export — configured from the environment: `TASKER_TELEMETRY` (default: on when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set), `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`,
 * `OTEL_METRIC_EXPORT_INTERVAL`, `TASKER_METRICS_CORRELATION` (correlation_id on metrics, default true),
 * `TASKER_METRICS_SERIES_IDLE_INTERVALS` (default 2), and the logging variables of `LoggingLayer` (`LOG_FORMAT`,
 * `LOG_LEVEL`, `TASKER_LOG_LEVELS`). With export on, the console keeps the `loggingLayer` logger and the OTLP log
 * exporter is added next to it, both with the same levels. Provide it outermost (around the engine layer).
 */
export const telemetryLayerFromEnv = Layer.unwrap(
  Effect.gen(function*() {
    // the endpoints are read through Config (not left to the exporters, which read process.env), so that a
    // ConfigProvider in front of the environment (the CLI's flags, tests) reaches them too
    const endpoint = yield* Config.String("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(Config.option)
    const signalEndpoint = (signal: string) =>
      Config.String(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`).pipe(Config.option, Config.map(Option.getOrUndefined))
    const signalEndpoints = {
      traces: yield* signalEndpoint("TRACES"),
      metrics: yield* signalEndpoint("METRICS"),
      logs: yield* signalEndpoint("LOGS")
    }
    const enabled = yield* Config.Boolean("TASKER_TELEMETRY").pipe(Config.withDefault(endpoint._tag === "Some"))
    const protocol = yield* Config.Literals(["http/protobuf", "grpc", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
      Config.withDefault("http/protobuf" as const)
    )
    const serviceName = yield* Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("tasker-effect"))
    const interval = yield* Config.Int("OTEL_METRIC_EXPORT_INTERVAL").pipe(Config.withDefault(60_000))
    const correlationOnMetrics = yield* Config.Boolean("TASKER_METRICS_CORRELATION").pipe(Config.withDefault(true))
    const idleIntervals = yield* Config.schema(
      Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
      "TASKER_METRICS_SERIES_IDLE_INTERVALS"
    ).pipe(Config.withDefault(2))
    const logging = loggingLayer(yield* loggingOptionsFromEnv)
    const settings = Layer.mergeAll(
      Layer.succeed(CorrelationOnMetrics, correlationOnMetrics),
      Layer.succeed(SeriesIdleIntervals, idleIntervals)
    )
    return enabled
      ? Layer.mergeAll(
        otlpLayer({
          protocol,
          serviceName,
          endpoint: Option.getOrUndefined(endpoint),
          signalEndpoints,
          metricExportIntervalMs: interval
        }).pipe(Layer.provideMerge(logging)),
        settings
      )
      : Layer.mergeAll(logging, settings)
  })
)
