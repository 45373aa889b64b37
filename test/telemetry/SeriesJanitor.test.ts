import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { withCorrelation } from "../../src/telemetry/Correlation.ts"
import * as Metrics from "../../src/telemetry/Metrics.ts"
import {
  CorrelationActivity,
  CorrelationActivityState,
  markFinished,
  MetricExportInterval,
  SeriesJanitorLayer,
  sweepIntervalMs,
  sweepSeries
} from "../../src/telemetry/SeriesJanitor.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { engineLayer } from "../../layers/engine.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

/** The correlation ids that have at least one series in the registry. */
const correlationsInRegistry = Effect.map(Metric.MetricRegistry, (registry) => {
  const ids = new Set<string>()
  for (const metadata of registry.values()) {
    const id = metadata.attributes?.correlation_id
    if (typeof id === "string") ids.add(id)
  }
  return ids
})

/** A fresh registry and activity tracker, so nothing leaks between tests. */
const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provideService(Metric.MetricRegistry, new Map()),
    Effect.provideService(CorrelationActivity, new CorrelationActivityState())
  )

const touch = (correlationId: string) =>
  Metrics.increment(Metrics.taskRequests, { task_type: "t", namespace: "n" }).pipe(
    withCorrelation({ correlationId, parentCorrelationId: null })
  )

describe("series janitor", () => {
  it.effect("drops an idle correlation after 2 sweeps, a finished one after 1, and keeps one whose region still runs", () =>
    Effect.gen(function*() {
      // "idle": a task that is never marked finished (another process finished it, it was cancelled, …)
      yield* touch("idle")
      // "finished": its task completed in this process
      yield* Effect.andThen(
        Metrics.increment(Metrics.taskCompletions, { namespace: "n" }),
        Effect.flatMap(Effect.succeed("finished"), markFinished)
      ).pipe(withCorrelation({ correlationId: "finished", parentCorrelationId: null }))
      // "running": a long handler, still inside its region
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const running = yield* Effect.forkChild(
        Effect.gen(function*() {
          yield* Metrics.increment(Metrics.stepExecutions, { namespace: "n", step_name: "s", handler_type: "effect" })
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(release)
        }).pipe(withCorrelation({ correlationId: "running", parentCorrelationId: null }))
      )
      yield* Deferred.await(started)

      // the sweep ending the interval of the updates: nothing has been exported for sure yet
      assert.strictEqual(yield* sweepSeries, 0)
      assert.deepStrictEqual([...(yield* correlationsInRegistry)].sort(), ["finished", "idle", "running"])
      // one full interval later: the finished task's series go
      assert.strictEqual(yield* sweepSeries, 1)
      assert.deepStrictEqual([...(yield* correlationsInRegistry)].sort(), ["idle", "running"])
      // two full intervals: the idle one goes too; the running one stays
      assert.strictEqual(yield* sweepSeries, 1)
      assert.deepStrictEqual([...(yield* correlationsInRegistry)], ["running"])
      yield* sweepSeries
      yield* sweepSeries
      assert.deepStrictEqual([...(yield* correlationsInRegistry)], ["running"])

      // once its region ends, it is idle from then on
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(running)
      yield* sweepSeries
      assert.deepStrictEqual([...(yield* correlationsInRegistry)], ["running"])
      yield* sweepSeries
      assert.deepStrictEqual([...(yield* correlationsInRegistry)], ["running"])
      yield* sweepSeries
      assert.deepStrictEqual([...(yield* correlationsInRegistry)], [])
      // and the tracker forgets it
      assert.strictEqual((yield* CorrelationActivity).correlations.size, 0)
    }).pipe(isolated))

  it.effect("a correlation active again after an idle stretch is kept", () =>
    Effect.gen(function*() {
      yield* touch("again")
      yield* sweepSeries
      yield* sweepSeries
      // idle for one interval, then active again: the idle count starts over
      yield* touch("again")
      yield* sweepSeries
      yield* sweepSeries
      assert.isTrue((yield* correlationsInRegistry).has("again"))
      yield* sweepSeries
      assert.isFalse((yield* correlationsInRegistry).has("again"))
    }).pipe(isolated))

  it.effect("series with a correlation_id updated outside any region are dropped once idle", () =>
    Effect.gen(function*() {
      yield* Metric.update(
        Metric.withAttributes(Metrics.taskRequests, { task_type: "t", namespace: "n", correlation_id: "stray" }),
        1
      )
      yield* sweepSeries // first seen
      yield* sweepSeries
      assert.isTrue((yield* correlationsInRegistry).has("stray"))
      yield* sweepSeries
      assert.isFalse((yield* correlationsInRegistry).has("stray"))
    }).pipe(isolated))

  it("never sweeps more often than the export interval", () => {
    assert.strictEqual(sweepIntervalMs(200, 5_000), 5_000)
    assert.strictEqual(sweepIntervalMs(60_000, 5_000), 60_000)
    assert.strictEqual(sweepIntervalMs(60_000, undefined), 60_000)
    assert.strictEqual(sweepIntervalMs(0, undefined), 10)
  })

  it.effect("the janitor layer sweeps at the export interval when it is given a shorter one", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(SeriesJanitorLayer("100 millis"), scope).pipe(
        Effect.provideService(MetricExportInterval, 1_000)
      )
      yield* touch("paced")
      // at a 100 ms pace the series would be gone after 300 ms
      yield* TestClock.adjust("900 millis")
      assert.isTrue((yield* correlationsInRegistry).has("paced"))
      // at the export pace: swept at 1 s (its interval), 2 s (one interval idle), 3 s (two): gone
      yield* TestClock.adjust("2100 millis")
      assert.isFalse((yield* correlationsInRegistry).has("paced"))
      yield* Scope.close(scope, yield* Effect.exit(Effect.void))
    }).pipe(isolated))
})

const Nothing = Workflow.make({ namespace: "janitor", name: "nothing", version: "1.0.0", identityStrategy: "always_unique" })
  .step("idle", { run: () => Effect.succeed(null) })

describe("series janitor in an API-only process", () => {
  it.live("drops the series of tasks it created, although it never sees them finish", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // no orchestrator and no worker: the task is never processed here, nothing marks it finished
      const engine = yield* Layer.buildWithScope(
        engineLayer({ templates: [Nothing], orchestrator: false, worker: false, settings: { metricsSweepIntervalMs: 150 } })
          .pipe(Layer.provideMerge(TestDatabaseLayer)),
        scope
      )
      const created = yield* Context.get(engine, TaskInitializer).createTask({
        namespace: "janitor",
        name: "nothing",
        version: "1.0.0"
      })
      assert.isTrue((yield* correlationsInRegistry).has(created.correlation_id))
      // swept every 150 ms: gone two full sweep intervals after its region ended (a generous margin for a busy machine)
      yield* Effect.sleep("1500 millis")
      assert.isFalse((yield* correlationsInRegistry).has(created.correlation_id))
      yield* Scope.close(scope, yield* Effect.exit(Effect.void))
    }).pipe(isolated), { timeout: 30_000 })
})
