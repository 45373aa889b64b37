/**
 * `tasker-effect/telemetry`: logs, metrics and traces as the `tasker` processes configure them (JSON logs,
 * `LOG_LEVEL`, OTLP export from the `OTEL_*` variables), and the correlation ID's fiber-local reference.
 *
 * ```ts
 * import { telemetryLayerFromEnv } from "tasker-effect/telemetry"
 * const App = Layer.provide(Engine, telemetryLayerFromEnv)
 * ```
 */
export { telemetryLayerFromEnv } from "../layers/telemetry.ts"
export {
  type CorrelationIds,
  CorrelationOnMetrics,
  CurrentCorrelation,
  withCorrelation
} from "../src/telemetry/Correlation.ts"
export { continueTrace } from "../src/telemetry/TraceContext.ts"
