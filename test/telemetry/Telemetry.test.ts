import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Scope } from "effect"
import { LinearWorkflow } from "../../src/examples/LinearWorkflow.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { loggingLayer } from "../../src/telemetry/Logging.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { engineLayer } from "../../layers/engine.ts"
import { otlpLayer } from "../../src/telemetry/Otlp.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"
import { dataPoints, logRecords, spanStatuses, spans, startOtlpReceiver } from "./OtlpReceiver.ts"

const Chatty = Workflow.make({ namespace: "telemetry", name: "chatty", version: "1.0.0", identityStrategy: "always_unique" })
  .step("talk", {
    run: (ctx) => Effect.logInfo("handler says hello").pipe(Effect.as(ctx.correlationId))
  })

const Failing = Workflow.make({ namespace: "telemetry", name: "failing", version: "1.0.0", identityStrategy: "always_unique" })
  .step("breaks", {
    retry: { maxAttempts: 1 },
    run: () => Effect.fail(StepError.permanent("no", { errorType: "ValidationError" }))
  })

describe("telemetry over OTLP", () => {
  it.live("one linear task: its counters, one trace, and the handler's logs carry its correlation ID; histograms do not", () =>
    Effect.gen(function*() {
      const receiver = yield* startOtlpReceiver
      const scope = yield* Scope.make()
      const engine = yield* Layer.buildWithScope(
        engineLayer({ templates: [LinearWorkflow, Chatty, Failing], settings: { pollIntervalMs: 200 } }).pipe(
          Layer.provideMerge(TestDatabaseLayer),
          Layer.provideMerge(otlpLayer({ protocol: "http/json", endpoint: receiver.url, metricExportIntervalMs: 300 })),
          Layer.provideMerge(loggingLayer({ format: "json", level: "Info" }))
        ),
        scope
      )
      const init = Context.get(engine, TaskInitializer)
      const queries = Context.get(engine, TaskQueries)
      const run = <A, E>(self: Effect.Effect<A, E, never>) => self

      const linear = yield* run(Effect.withSpan(
        init.createTask({ namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0", context: { even_number: 6 } }),
        "test.submit"
      )).pipe(Effect.provide(engine))
      const chatty = yield* init.createTask({ namespace: "telemetry", name: "chatty", version: "1.0.0" }).pipe(Effect.provide(engine))
      const failing = yield* init.createTask({ namespace: "telemetry", name: "failing", version: "1.0.0" }).pipe(Effect.provide(engine))
      assert.strictEqual((yield* queries.waitForCompletion(linear.task_uuid)).status, "complete")
      assert.strictEqual((yield* queries.waitForCompletion(chatty.task_uuid)).status, "complete")
      assert.strictEqual((yield* queries.waitForCompletion(failing.task_uuid)).status, "blocked_by_failures")
      yield* Effect.sleep("800 millis")
      // shutting the SDK down flushes spans, metrics and logs
      yield* Scope.close(scope, yield* Effect.exit(Effect.void))

      const cid = linear.correlation_id
      const forTask = (name: string) => dataPoints(receiver.received, name).filter((p) => p.attribute("correlation_id") === cid)
      const total = (name: string) => forTask(name).reduce((sum, p) => sum + p.value, 0)
      assert.strictEqual(total("tasker.tasks.requests.total"), 1)
      assert.strictEqual(total("tasker.tasks.completions.total"), 1)
      assert.strictEqual(total("tasker.steps.enqueued.total"), 4)
      assert.strictEqual(total("tasker.steps.results_processed.total"), 4)
      assert.strictEqual(total("tasker.steps.executions.total"), 4)
      assert.strictEqual(total("tasker.steps.successes.total"), 4)
      assert.strictEqual(total("tasker.steps.claimed.total"), 4)
      for (const histogram of [
        "tasker.task.initialization.duration",
        "tasker.step.execution.duration",
        "tasker.step_result.submission.duration",
        "tasker.step_result.processing.duration"
      ]) {
        // histograms carry no correlation label (exemplars carry it, on the Prometheus scrape only)
        const points = dataPoints(receiver.received, histogram)
        assert.isAbove(points.reduce((n, p) => n + p.count, 0), 0, histogram)
        assert.deepStrictEqual(forTask(histogram), [], histogram)
        assert.isTrue(points.every((p) => p.attribute("correlation_id") === undefined), histogram)
      }
      const failures = dataPoints(receiver.received, "tasker.steps.failures.total")
        .filter((p) => p.attribute("correlation_id") === failing.correlation_id)
      assert.deepStrictEqual(failures.map((p) => [p.attribute("error_type"), p.value]), [["ValidationError", 1]])
      assert.isAbove(dataPoints(receiver.received, "tasker.sql.queries.total").length, 0)

      const taskSpans = spans(receiver.received).filter((s) => s.attribute("correlation_id") === cid)
      const names = new Set(taskSpans.map((s) => s.name))
      for (const name of ["TaskInitializer.createTask", "Worker.runStep", "StepHandler linear_step_1", "StepHandler linear_step_4"]) {
        assert.isTrue(names.has(name), `missing span ${name}`)
      }
      assert.strictEqual(taskSpans.filter((s) => s.name === "Worker.runStep").length, 4)
      assert.strictEqual(
        taskSpans.filter((s) => s.name.startsWith("StepHandler ")).length,
        4,
        "one StepHandler span per step run"
      )
      const traceIds = new Set(taskSpans.map((s) => s.traceId))
      assert.strictEqual(traceIds.size, 1, "all spans of the task share one trace")
      const submit = spans(receiver.received).find((s) => s.name === "test.submit")
      assert.strictEqual(submit?.traceId, [...traceIds][0], "the trace starts at the caller's span")

      // a failed handler's span has an error status (the step outcome is still a result envelope)
      const statuses = spanStatuses(receiver.received)
      const failedHandler = statuses.filter((s) =>
        s.name === "StepHandler breaks" && s.attribute("correlation_id") === failing.correlation_id
      )
      assert.isTrue(failedHandler.some((s) => s.code === 2 && s.message.includes("no")), "StepHandler breaks has an error status")
      assert.isFalse(
        statuses.some((s) => s.name.startsWith("StepHandler linear_step") && s.code === 2),
        "successful handlers have no error status"
      )

      const said = logRecords(receiver.received).filter((r) => r.body.includes("handler says hello"))
      assert.strictEqual(said.length, 1)
      assert.strictEqual(said[0]!.attribute("correlation_id"), chatty.correlation_id)
    }), { timeout: 60_000 })
})


