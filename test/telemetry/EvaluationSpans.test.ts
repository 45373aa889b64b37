/**
 * The readiness loop evaluates a task in the task's region: the `TaskEvaluator.evaluate` and
 * `EngineFunctions.evaluateTask` spans carry `task_uuid` and `correlation_id` and continue the trace stored on the
 * task, and the evaluation's log lines (here `Task completed`) carry the task's IDs.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Logger, Option, References, Schedule, Tracer } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { createTask, forceStepState, graphs } from "../support/Fixtures.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const spans: Array<Tracer.NativeSpan> = []
const keeping = Tracer.make({
  span: (options) => {
    const span = new Tracer.NativeSpan(options)
    spans.push(span)
    return span
  }
})

const logs: Array<{ readonly message: unknown; readonly annotations: Readonly<Record<string, unknown>> }> = []
const capturing = Logger.make((o) => {
  logs.push({ message: o.message, annotations: { ...o.fiber.getRef(References.CurrentLogAnnotations) } })
})

// an orchestrator only (no templates, so no worker), polling often
const Orchestrator = engineLayer({ settings: { pollIntervalMs: 100 } }).pipe(
  Layer.provideMerge(TestDatabaseLayer),
  Layer.provide([Layer.succeed(Tracer.Tracer, keeping), Logger.layer([capturing])])
)

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN_ID = "00f067aa0ba902b7"

layer(Orchestrator, { timeout: 60_000, excludeTestServices: true })("readiness-loop evaluation", (it) => {
  it.effect("runs in the task's correlation and continues the task's stored trace", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // a pending task whose steps are all complete: the readiness loop claims it and its evaluation completes it
      // (written in one transaction, so that the loop never sees it half set up)
      const correlationId = "01a21c46-87b4-7459-b268-825705999c77"
      const parentCorrelationId = "01a21c46-87b4-7459-b268-825705999c00"
      const taskUuid = yield* sql.withTransaction(Effect.gen(function*() {
        const { taskUuid, steps } = yield* createTask({ steps: graphs.linear, namespace: "spans", name: "evaluated" })
        yield* sql`UPDATE tasker_tasks SET correlation_id = ${correlationId}, parent_correlation_id = ${parentCorrelationId},
                     trace_headers = ${JSON.stringify({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` })}::jsonb
                   WHERE task_uuid = ${taskUuid}`
        for (const step of Object.values(steps)) yield* forceStepState(step, "complete")
        return taskUuid
      }))

      yield* sql<{ current_state: string }>`SELECT current_state FROM tasker_tasks WHERE task_uuid = ${taskUuid}`.pipe(
        Effect.flatMap(([row]) => row?.current_state === "complete" ? Effect.void : Effect.fail("not complete yet")),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "20 seconds" })))
      )

      for (const name of ["TaskEvaluator.evaluate", "EngineFunctions.evaluateTask"]) {
        const span = spans.find((s) => s.name === name && s.attributes.get("task_uuid") === taskUuid)
        assert.isDefined(span, `no ${name} span with task_uuid: ${spans.map((s) => s.name).join(", ")}`)
        assert.strictEqual(span!.attributes.get("correlation_id"), correlationId, name)
        assert.strictEqual(span!.attributes.get("parent_correlation_id"), parentCorrelationId, name)
        assert.strictEqual(span!.traceId, TRACE_ID, `${name} is in the task's trace`)
      }
      const evaluate = spans.find((s) => s.name === "TaskEvaluator.evaluate" && s.attributes.get("task_uuid") === taskUuid)!
      const parent = Option.getOrUndefined(evaluate.parent)
      assert.deepStrictEqual([parent?._tag, parent?.spanId], ["ExternalSpan", SPAN_ID], "its parent is the stored span")

      const completed = logs.find((l) =>
        JSON.stringify(l.message).includes("Task completed") && l.annotations.task_uuid === taskUuid
      )
      assert.isDefined(completed, "a Task completed line with the task's task_uuid")
      assert.strictEqual(completed!.annotations.correlation_id, correlationId)
      assert.strictEqual(completed!.annotations.parent_correlation_id, parentCorrelationId)
    }))
})
