/**
 * OpenTelemetry export of the engine's traces, metrics and logs over OTLP, through `@effect/opentelemetry` and the
 * official SDK (`otlpLayer`).
 *
 * - `protocol` chooses the exporters: `http/protobuf` (the default), `grpc` or `http/json`; `endpoint` (or one URL
 *   per signal) where they send. Without them the exporters read the standard `OTEL_EXPORTER_OTLP_*` variables.
 * - Logs: the OTLP log exporter is added next to the loggers already installed, with their level filter.
 * - Metrics go out with their units (`ms`, `{task}`, …; see `Metrics.ts`); the `unit` attribute that carries the
 *   unit is removed from the data points (`withoutUnitAttribute`).
 * - When the host application already runs an OpenTelemetry SDK (a global tracer provider is registered), the
 *   engine's spans join it instead of starting a second SDK; metrics and logs are then exported by a reader and a
 *   log processor of the engine's own on the same endpoint.
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
import { Effect, Layer, Logger } from "effect"
import { CurrentLevelFilter, withLevelFilter } from "./Logging.ts"
import { UNIT_ATTRIBUTE } from "./Metrics.ts"
import { MetricExportInterval } from "./SeriesJanitor.ts"

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
 * `otlpLayer(options).pipe(Layer.provideMerge(loggingLayer(…)))`, which is what `telemetryLayerFromEnv` does. Also provides
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
