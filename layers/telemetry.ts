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
import { OtelTracer } from "@effect/opentelemetry"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as OtelLogger from "@effect/opentelemetry/OtelLogger"
import { context, trace } from "@opentelemetry/api"
import { BatchLogRecordProcessor } from "@opentelemetry/sdk-logs"
import type { LogRecordExporter } from "@opentelemetry/sdk-logs"
import {
  type MetricData,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics
} from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Config, Effect, Layer, Logger, Option, Schema } from "effect"
import { CorrelationOnMetrics } from "../src/telemetry/Correlation.ts"
import { CurrentLevelFilter, loggingLayer, loggingOptionsFromEnv, withLevelFilter } from "../src/telemetry/Logging.ts"
import { UNIT_ATTRIBUTE } from "../src/telemetry/Metrics.ts"
import { MetricExportInterval, SeriesIdleIntervals } from "../src/telemetry/SeriesJanitor.ts"

export type OtlpProtocol = "http/protobuf" | "grpc" | "http/json"

export interface TelemetryOptions {
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  readonly protocol?: OtlpProtocol | undefined
  /** OTLP endpoint (base URL); default: the standard environment variables, then the exporters' defaults */
  readonly endpoint?: string | undefined
  /** full URL per signal; wins over `endpoint` */
  readonly signalEndpoints?: {
    readonly traces?: string | undefined
    readonly metrics?: string | undefined
    readonly logs?: string | undefined
  } | undefined
  readonly metricExportIntervalMs?: number | undefined
}

const exporters = async (
  protocol: OtlpProtocol,
  endpoint: string | undefined,
  signalEndpoints: TelemetryOptions["signalEndpoints"] = {}
) => {
  const url = (signal: "traces" | "metrics" | "logs") =>
    signalEndpoints[signal] ??
      (endpoint === undefined ? undefined : protocol === "grpc" ? endpoint : `${endpoint.replace(/\/$/, "")}/v1/${signal}`)
  const options = (signal: "traces" | "metrics" | "logs") => (url(signal) === undefined ? {} : { url: url(signal)! })
  switch (protocol) {
    case "grpc": {
      const [t, m, l] = await Promise.all([
        import("@opentelemetry/exporter-trace-otlp-grpc"),
        import("@opentelemetry/exporter-metrics-otlp-grpc"),
        import("@opentelemetry/exporter-logs-otlp-grpc")
      ])
      return {
        traces: new t.OTLPTraceExporter(options("traces")) as SpanExporter,
        metrics: new m.OTLPMetricExporter(options("metrics")) as PushMetricExporter,
        logs: new l.OTLPLogExporter(options("logs")) as LogRecordExporter
      }
    }
    case "http/json": {
      const [t, m, l] = await Promise.all([
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/exporter-metrics-otlp-http"),
        import("@opentelemetry/exporter-logs-otlp-http")
      ])
      return {
        traces: new t.OTLPTraceExporter(options("traces")) as SpanExporter,
        metrics: new m.OTLPMetricExporter(options("metrics")) as PushMetricExporter,
        logs: new l.OTLPLogExporter(options("logs")) as LogRecordExporter
      }
    }
    default: {
      const [t, m, l] = await Promise.all([
        import("@opentelemetry/exporter-trace-otlp-proto"),
        import("@opentelemetry/exporter-metrics-otlp-proto"),
        import("@opentelemetry/exporter-logs-otlp-proto")
      ])
      return {
        traces: new t.OTLPTraceExporter(options("traces")) as SpanExporter,
        metrics: new m.OTLPMetricExporter(options("metrics")) as PushMetricExporter,
        logs: new l.OTLPLogExporter(options("logs")) as LogRecordExporter
      }
    }
  }
}

/**
 * `exporter`, with the `unit` (and `time_unit`) attribute removed from every data point. `@effect/opentelemetry`
 * reads a metric's unit from that attribute and puts it on the metric, where it belongs; left on the data points it
 * would also become a `unit="ms"` label.
 */
export const withoutUnitAttribute = (exporter: PushMetricExporter): PushMetricExporter => {
  const strip = (metrics: ResourceMetrics): ResourceMetrics => ({
    ...metrics,
    scopeMetrics: metrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.map((metric) =>
        ({
          ...metric,
          dataPoints: metric.dataPoints.map((point) => {
            if (!(UNIT_ATTRIBUTE in point.attributes) && !("time_unit" in point.attributes)) return point
            const { [UNIT_ATTRIBUTE]: _unit, time_unit: _timeUnit, ...attributes } = point.attributes
            return { ...point, attributes }
          })
        }) as MetricData
      )
    }))
  })
  const wrapped: PushMetricExporter = {
    export: (metrics, resultCallback) => exporter.export(strip(metrics), resultCallback),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown()
  }
  if (exporter.selectAggregationTemporality !== undefined) {
    wrapped.selectAggregationTemporality = exporter.selectAggregationTemporality.bind(exporter)
  }
  if (exporter.selectAggregation !== undefined) wrapped.selectAggregation = exporter.selectAggregation.bind(exporter)
  return wrapped
}

/** True when the host application registered a global OpenTelemetry tracer provider. */
const hostSdkRunning = (): boolean => {
  const provider = trace.getTracerProvider() as { getDelegate?: () => { constructor: { name: string } } }
  const delegate = provider.getDelegate?.()
  return delegate !== undefined && delegate.constructor.name !== "NoopTracerProvider" && context !== undefined
}

/**
 * OpenTelemetry export of traces, metrics and logs over OTLP.
 *
 * The OTLP log exporter is **added** to the loggers in place when the layer is built, and filtered by the levels
 * of the logging installed then (`CurrentLevelFilter`). So build the logging first:
 * `otlpLayer(options).pipe(Layer.provideMerge(loggingLayer(…)))`, which is what `TelemetryLayer` does. Also provides
 * `MetricExportInterval`, so that the series janitor never sweeps more often than metrics are exported.
 */
export const otlpLayer = (options: TelemetryOptions = {}) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const protocol = options.protocol ?? "http/protobuf"
      const levelFilter = yield* CurrentLevelFilter
      const e = yield* Effect.promise(() => exporters(protocol, options.endpoint, options.signalEndpoints))
      const resource = {
        serviceName: options.serviceName ?? "tasker-effect",
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      }
      const interval = options.metricExportIntervalMs ?? 60_000
      const metricReader = new PeriodicExportingMetricReader({
        exporter: withoutUnitAttribute(e.metrics),
        exportIntervalMillis: interval
      })
      const sdk = hostSdkRunning()
        // spans join the host's provider; our metrics get a reader of their own
        ? Layer.mergeAll(OtelTracer.layerGlobal, NodeSdk.layer(() => ({ resource, metricReader })))
        : NodeSdk.layer(() => ({
          resource,
          spanProcessor: new BatchSpanProcessor(e.traces, { scheduledDelayMillis: 500 }),
          metricReader
        }))
      // the OTLP logger next to the loggers already installed, with their level filter
      const logs = Logger.layer([Effect.map(OtelLogger.make, withLevelFilter(levelFilter))], { mergeWithExisting: true })
        .pipe(
          Layer.provide(OtelLogger.layerLoggerProvider(
            new BatchLogRecordProcessor({ exporter: e.logs, scheduledDelayMillis: 500 })
          ))
        )
      return Layer.mergeAll(
        logs.pipe(Layer.provideMerge(sdk)),
        Layer.succeed(MetricExportInterval, interval)
      )
    })
  )

/**
 * Logging plus, when enabled, OTLP export — configured from the environment: `TASKER_TELEMETRY` (default: on when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set), `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`,
 * `OTEL_METRIC_EXPORT_INTERVAL`, `TASKER_METRICS_CORRELATION` (correlation_id on metrics, default true),
 * `TASKER_METRICS_SERIES_IDLE_INTERVALS` (default 2), and the logging variables of `LoggingLayer` (`LOG_FORMAT`,
 * `LOG_LEVEL`, `TASKER_LOG_LEVELS`). With export on, the console keeps the `loggingLayer` logger and the OTLP log
 * exporter is added next to it, both with the same levels. Provide it outermost (around the engine layer).
 */
export const TelemetryLayer = Layer.unwrap(
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
