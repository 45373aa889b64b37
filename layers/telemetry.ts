/**
 * Telemetry: logging (always) and, when enabled, OpenTelemetry export of traces, metrics and logs over OTLP through
 * `@effect/opentelemetry` and the official SDK.
 *
 * - The exporters follow the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
 *   `…_TRACES_/…_METRICS_/…_LOGS_ENDPOINT`), `OTEL_EXPORTER_OTLP_HEADERS`, and `OTEL_EXPORTER_OTLP_PROTOCOL`
 *   (`http/protobuf` — the default —, `grpc` or `http/json`) choose where and how they send. `OTEL_SERVICE_NAME`
 *   (default `tasker-effect`) names the service; `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60 000) paces metrics.
 * - When the host application already runs an OpenTelemetry SDK (a global tracer provider is registered), the
 *   engine's spans and logs join it instead of starting a second SDK; metrics are then exported by a reader of the
 *   engine's own on the same endpoint.
 * - Telemetry off (`TASKER_TELEMETRY=false`, the default unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set): no SDK layer
 *   at all. Metrics are still kept in memory for the Prometheus `/metrics` endpoint.
 */
import { OtelTracer } from "@effect/opentelemetry"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { context, trace } from "@opentelemetry/api"
import { BatchLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Config, Effect, Layer } from "effect"
import type { LogRecordExporter } from "@opentelemetry/sdk-logs"
import { CorrelationOnMetrics } from "../src/telemetry/Correlation.ts"
import { LoggingLayer } from "../src/telemetry/Logging.ts"

export type OtlpProtocol = "http/protobuf" | "grpc" | "http/json"

export interface TelemetryOptions {
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  readonly protocol?: OtlpProtocol | undefined
  /** OTLP endpoint (base URL); default: the standard environment variables, then the exporters' defaults */
  readonly endpoint?: string | undefined
  readonly metricExportIntervalMs?: number | undefined
}

const exporters = async (protocol: OtlpProtocol, endpoint: string | undefined) => {
  const url = (signal: string) =>
    endpoint === undefined ? undefined : protocol === "grpc" ? endpoint : `${endpoint.replace(/\/$/, "")}/v1/${signal}`
  const options = (signal: string) => (url(signal) === undefined ? {} : { url: url(signal)! })
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

/** True when the host application registered a global OpenTelemetry tracer provider. */
const hostSdkRunning = (): boolean => {
  const provider = trace.getTracerProvider() as { getDelegate?: () => { constructor: { name: string } } }
  const delegate = provider.getDelegate?.()
  return delegate !== undefined && delegate.constructor.name !== "NoopTracerProvider" && context !== undefined
}

/** OpenTelemetry export of traces, metrics and logs over OTLP. */
export const otlpLayer = (options: TelemetryOptions = {}) =>
  Layer.unwrap(
    Effect.promise(async () => {
      const protocol = options.protocol ?? "http/protobuf"
      const e = await exporters(protocol, options.endpoint)
      const resource = {
        serviceName: options.serviceName ?? "tasker-effect",
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      }
      const metricReader = new PeriodicExportingMetricReader({
        exporter: e.metrics,
        exportIntervalMillis: options.metricExportIntervalMs ?? 60_000
      })
      if (hostSdkRunning()) {
        // spans join the host's provider; our metrics get a reader of their own
        return Layer.mergeAll(
          OtelTracer.layerGlobal,
          NodeSdk.layer(() => ({ resource, metricReader, logRecordProcessor: new BatchLogRecordProcessor({ exporter: e.logs }), loggerMergeWithExisting: true }))
        )
      }
      return NodeSdk.layer(() => ({
        resource,
        spanProcessor: new BatchSpanProcessor(e.traces, { scheduledDelayMillis: 500 }),
        metricReader,
        logRecordProcessor: new BatchLogRecordProcessor({ exporter: e.logs, scheduledDelayMillis: 500 }),
        loggerMergeWithExisting: true
      }))
    })
  )

/**
 * Logging plus, when enabled, OTLP export — configured from the environment: `TASKER_TELEMETRY` (default: on when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set), `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`,
 * `OTEL_METRIC_EXPORT_INTERVAL`, `TASKER_METRICS_CORRELATION` (correlation_id on metrics, default true), and the
 * logging variables of `LoggingLayer`. Provide it outermost (around the engine layer).
 */
export const TelemetryLayer = Layer.unwrap(
  Effect.gen(function*() {
    const endpoint = yield* Config.String("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(Config.option)
    const enabled = yield* Config.Boolean("TASKER_TELEMETRY").pipe(Config.withDefault(endpoint._tag === "Some"))
    const protocol = yield* Config.Literals(["http/protobuf", "grpc", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
      Config.withDefault("http/protobuf" as const)
    )
    const serviceName = yield* Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("tasker-effect"))
    const interval = yield* Config.Int("OTEL_METRIC_EXPORT_INTERVAL").pipe(Config.withDefault(60_000))
    const correlationOnMetrics = yield* Config.Boolean("TASKER_METRICS_CORRELATION").pipe(Config.withDefault(true))
    const base = Layer.mergeAll(LoggingLayer, Layer.succeed(CorrelationOnMetrics, correlationOnMetrics))
    return enabled
      ? Layer.mergeAll(base, otlpLayer({ protocol, serviceName, metricExportIntervalMs: interval }))
      : base
  })
)
