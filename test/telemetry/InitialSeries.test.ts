/**
 * Counter series whose labels are known in advance exist at 0 before the first event (InitialSeries.ts): when a
 * template is registered, and, in a process that only reads templates, for every stored template at startup. The
 * first event then increments the series Prometheus has already seen at 0, so `increase()` counts it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { CorrelationOnMetrics } from "../../src/telemetry/Correlation.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Zeros = Workflow.make({ namespace: "initial_series", name: "zeros", version: "1.0.0", identityStrategy: "always_unique" })
  .step("ok", { run: () => Effect.succeed(1) })
  .step("checks", {
    dependsOn: ["ok"],
    run: (ctx) =>
      (ctx.context as { readonly fail?: boolean }).fail === true
        ? Effect.fail(StepError.permanent("bad input", { errorType: "ValidationError" }))
        : Effect.succeed(2)
  })

/** The series of counter `id` whose attributes are exactly `labels` (plus the unit), or undefined. */
const series = (registry: Metric.MetricRegistry, id: string, labels: Record<string, string>) => {
  // snapshotUnsafe reads the registry from a context
  const snapshots = Metric.snapshotUnsafe(Context.make(Metric.MetricRegistry, registry))
  const found = snapshots.filter((s) => {
    if (s.id !== id) return false
    const { unit: _, ...attributes } = s.attributes ?? {}
    return JSON.stringify(Object.entries(attributes).sort()) === JSON.stringify(Object.entries(labels).sort())
  })
  assert.isAtMost(found.length, 1)
  return found[0] === undefined ? undefined : Number((found[0].state as { count: number }).count)
}

const task = { task_type: "zeros", namespace: "initial_series" }

describe("counters at 0 before the first event", () => {
  it.live("registered template: the fleet-wide series exist at 0, and the first events increment those very series", () => {
    const registry: Metric.MetricRegistry = new Map()
    return Effect.gen(function*() {
      const at = (id: string, labels: Record<string, string>) => series(registry, id, labels)
      // before any task
      assert.strictEqual(at("tasker.tasks.requests.total", task), 0)
      assert.strictEqual(at("tasker.tasks.completions.total", task), 0)
      assert.strictEqual(at("tasker.tasks.failures.total", { ...task, error_type: "blocked_by_failures" }), 0)
      assert.strictEqual(at("tasker.steps.enqueued.total", { namespace: "initial_series" }), 0)
      assert.strictEqual(at("tasker.steps.executions.total", { namespace: "initial_series", step_name: "ok", handler_type: "effect" }), 0)
      assert.strictEqual(at("tasker.steps.successes.total", { namespace: "initial_series", step_name: "checks" }), 0)
      const validation = { namespace: "initial_series", step_name: "checks", error_type: "ValidationError", retryable: "false" }
      assert.strictEqual(at("tasker.steps.failures.total", validation), 0)
      assert.strictEqual(at("tasker.steps.claimed.total", { namespace: "initial_series", claim_method: "event" }), 0)
      assert.strictEqual(at("tasker.steps.results_processed.total", { namespace: "initial_series", result_type: "success" }), 0)

      // with correlation off, the events land on those series
      const init = yield* TaskInitializer
      const queries = yield* TaskQueries
      const good = yield* init.createTask({ namespace: "initial_series", name: "zeros", version: "1.0.0", context: {} })
      const bad = yield* init.createTask({ namespace: "initial_series", name: "zeros", version: "1.0.0", context: { fail: true } })
      assert.strictEqual((yield* queries.waitForCompletion(good.task_uuid, { timeout: "20 seconds" })).status, "complete")
      assert.strictEqual((yield* queries.waitForCompletion(bad.task_uuid, { timeout: "20 seconds" })).status, "blocked_by_failures")
      assert.strictEqual(at("tasker.tasks.requests.total", task), 2)
      assert.strictEqual(at("tasker.tasks.completions.total", task), 1)
      assert.strictEqual(at("tasker.tasks.failures.total", { ...task, error_type: "blocked_by_failures" }), 1)
      assert.strictEqual(at("tasker.steps.successes.total", { namespace: "initial_series", step_name: "checks" }), 1)
      assert.strictEqual(at("tasker.steps.failures.total", validation), 1)
      // no other failure series of the step: the one that counted is the one created at 0
      assert.strictEqual(
        [...registry.values()].filter((m) => m.id === "tasker.steps.failures.total" && m.attributes?.step_name === "checks").length,
        5
      )

      // a process that only reads templates (no worker, no registration) creates the stored ones' series at startup
      const reader: Metric.MetricRegistry = new Map()
      yield* Effect.scoped(Layer.build(engineLayer({ orchestrator: false, worker: false }))).pipe(
        Effect.provideService(Metric.MetricRegistry, reader)
      )
      assert.strictEqual(series(reader, "tasker.tasks.completions.total", task), 0)
      assert.strictEqual(series(reader, "tasker.steps.successes.total", { namespace: "initial_series", step_name: "ok" }), 0)
      assert.strictEqual(series(reader, "tasker.steps.failures.total", validation), 0)
    }).pipe(
      Effect.provide(
        engineLayer({ templates: [Zeros], settings: { pollIntervalMs: 200 } }).pipe(Layer.provideMerge(TestDatabaseLayer))
      ),
      Effect.provideService(Metric.MetricRegistry, registry),
      Effect.provideService(CorrelationOnMetrics, false)
    )
  }, 60_000)
})
