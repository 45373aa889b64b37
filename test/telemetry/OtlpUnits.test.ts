import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric, Scope } from "effect"
import { LinearWorkflow } from "../../src/examples/LinearWorkflow.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { loggingLayer } from "../../src/telemetry/Logging.ts"
import { engineLayer } from "../../layers/engine.ts"
import { otlpLayer } from "../../src/telemetry/Otlp.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"
import { metricDescriptors, startOtlpReceiver } from "./OtlpReceiver.ts"

/** The unit each metric must carry over OTLP. */
const expectedUnits: Record<string, string> = {
  "tasker.tasks.requests.total": "{request}",
  "tasker.tasks.completions.total": "{task}",
  "tasker.steps.enqueued.total": "{step}",
  "tasker.steps.results_processed.total": "{result}",
  "tasker.steps.executions.total": "{execution}",
  "tasker.steps.successes.total": "{execution}",
  "tasker.steps.claimed.total": "{step}",
  "tasker.steps.results_submitted.total": "{result}",
  "tasker.sql.queries.total": "{call}",
  "tasker.messages.sent.total": "{message}",
  "tasker.messages.received.total": "{message}",
  "tasker.tasks.active": "{task}",
  "tasker.steps.ready": "{step}",
  "tasker.steps.active_executions": "{step}",
  "tasker.queue.depth": "{message}",
  "tasker.db.pool.connections": "{connection}",
  "tasker.queue.oldest_message.age": "ms",
  "tasker.task.initialization.duration": "ms",
  "tasker.step.execution.duration": "ms",
  "tasker.step.claim.duration": "ms",
  "tasker.step_result.submission.duration": "ms",
  "tasker.step_result.processing.duration": "ms",
  "tasker.task.finalization.duration": "ms",
  "tasker.sql.query.duration": "ms",
  "tasker.db.transaction.duration": "ms",
  "tasker.message.latency": "ms",
  "tasker.message.receive.duration": "ms"
}

describe("OTLP metric units", () => {
  it.live("every metric carries its unit (ms, or a {count} annotation), never 1, and no unit attribute", () =>
    Effect.gen(function*() {
      const receiver = yield* startOtlpReceiver
      const scope = yield* Scope.make()
      const engine = yield* Layer.buildWithScope(
        engineLayer({ templates: [LinearWorkflow], settings: { pollIntervalMs: 200, metricsSampleIntervalMs: 100 } }).pipe(
          Layer.provideMerge(TestDatabaseLayer),
          Layer.provideMerge(otlpLayer({ protocol: "http/json", endpoint: receiver.url, metricExportIntervalMs: 300 })),
          Layer.provideMerge(loggingLayer({ format: "json", level: "Warn" })),
          Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map()))
        ),
        scope
      )
      // created in bulk, so that its root step goes through the queue and the claim's metrics are recorded too (a
      // single creation hands the root to this process's worker without a claim)
      const [created] = yield* Context.get(engine, TaskInitializer).createTasks([{
        namespace: "rust_e2e_linear",
        name: "mathematical_sequence",
        version: "1.0.0",
        context: { even_number: 6 }
      }]).pipe(Effect.provideContext(engine))
      assert.strictEqual((yield* Context.get(engine, TaskQueries).waitForCompletion(created!.task_uuid)).status, "complete")
      yield* Effect.sleep("500 millis")
      yield* Scope.close(scope, yield* Effect.exit(Effect.void))

      const units = new Map<string, Set<string>>()
      const withUnitAttribute: Array<string> = []
      for (const metric of metricDescriptors(receiver.received)) {
        if (!metric.name.startsWith("tasker.")) continue
        units.set(metric.name, (units.get(metric.name) ?? new Set()).add(metric.unit))
        if (metric.attributeKeys.has("unit") || metric.attributeKeys.has("time_unit")) withUnitAttribute.push(metric.name)
      }
      for (const [name, unit] of Object.entries(expectedUnits)) {
        assert.deepStrictEqual([...(units.get(name) ?? [])], [unit], name)
      }
      for (const [name, seen] of units) assert.isFalse(seen.has("1"), `${name} has unit 1`)
      assert.deepStrictEqual([...new Set(withUnitAttribute)], [], "no data point carries a unit attribute")
    }), { timeout: 60_000 })
})
