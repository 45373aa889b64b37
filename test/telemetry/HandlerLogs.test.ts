/**
 * A plain-async handler's `ctx.log` lines go through the engine's Effect logger with what an Effect handler's
 * `Effect.log*` lines carry: the task's correlation ID, `task_uuid`, `step_uuid`, `namespace`, `step_name`, and the
 * trace and span of the step's handler span. Captured with a test logger on a real engine and database.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer, Logger, References, Tracer } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { jsonLine } from "../../src/telemetry/Logging.ts"
import { fromPromise, Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

/** Every line logged while the engine runs, as the JSON logger writes it, plus the name of its current span. */
const lines: Array<Record<string, any>> = []
const CaptureLogger = Logger.make((o) => {
  const span = Context.getOrUndefined(o.fiber.context, Tracer.ParentSpan)
  lines.push({ ...JSON.parse(jsonLine(o)), span_name: span?._tag === "Span" ? span.name : undefined })
})

const Talkative = Workflow.make({ namespace: "handler_logs", name: "talkative", version: "1.0.0", identityStrategy: "always_unique" })
  .step("effect_step", {
    run: () => Effect.logInfo("effect handler says hello", { order_id: 42 }).pipe(Effect.as(1))
  })
  // a root too: both steps are claimed from the queue the same way, so their lines can be compared key for key
  .stepWith("promise_step", {
    handler: fromPromise(async (ctx) => {
      ctx.log.debug("promise handler debug", { order_id: 42 })
      ctx.log.info("promise handler says hello", { order_id: 42 })
      // after an await too: the logger keeps the step's region
      await new Promise((resolve) => setTimeout(resolve, 5))
      ctx.log.warn("promise handler warn")
      ctx.log.error("promise handler error", { code: "E_TEST" })
      return 2
    })
  })

const TestLayer = engineLayer({ templates: [Talkative], settings: { pollIntervalMs: 200 } }).pipe(
  Layer.provideMerge(TestDatabaseLayer),
  Layer.provideMerge(Layer.mergeAll(Logger.layer([CaptureLogger]), Layer.succeed(References.MinimumLogLevel, "Debug")))
)

/** The annotations a step's lines carry (besides the line's own fields and ids). */
const STEP_ANNOTATIONS = ["correlation_id", "task_uuid", "step_uuid", "namespace", "step_name"] as const

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("fromPromise handler logs", (it) => {
  describe("ctx.log", () => {
    it.effect("lines carry the step's correlation, task, step, trace and span annotations, like an Effect handler's", () =>
      Effect.gen(function*() {
        const created = yield* (yield* TaskInitializer).createTask({ namespace: "handler_logs", name: "talkative", version: "1.0.0" })
        const done = yield* (yield* TaskQueries).waitForCompletion(created.task_uuid, { timeout: "30 seconds" })
        assert.strictEqual(done.status, "complete")

        const ofTask = lines.filter((l) => l.task_uuid === created.task_uuid)
        const effectLine = ofTask.find((l) => l.message === "effect handler says hello")
        assert.isDefined(effectLine, "the Effect handler's line")
        const promiseLines = ofTask.filter((l) => String(l.message).startsWith("promise handler"))
        assert.deepStrictEqual(
          promiseLines.map((l) => [l.level, l.message]),
          [
            ["DEBUG", "promise handler debug"],
            ["INFO", "promise handler says hello"],
            ["WARN", "promise handler warn"],
            ["ERROR", "promise handler error"]
          ]
        )
        for (const line of promiseLines) {
          assert.strictEqual(line.correlation_id, created.correlation_id, line.message)
          assert.strictEqual(line.task_uuid, created.task_uuid, line.message)
          assert.strictEqual(line.step_uuid, created.step_mapping.promise_step, line.message)
          assert.strictEqual(line.step_name, "promise_step", line.message)
          assert.strictEqual(line.namespace, "handler_logs", line.message)
          // the handler's span, in the task's trace (the one the Effect handler's line is in)
          assert.strictEqual(line.span_name, "StepHandler promise_step", line.message)
          assert.match(line.trace_id, /^[0-9a-f]{32}$/, line.message)
          assert.strictEqual(line.trace_id, effectLine!.trace_id, line.message)
          assert.match(line.span_id, /^[0-9a-f]{16}$/, line.message)
          assert.notStrictEqual(line.span_id, effectLine!.span_id, line.message)
        }
        // the same annotations as the Effect handler's line, which has them for its own step
        for (const key of STEP_ANNOTATIONS) assert.property(effectLine!, key)
        assert.strictEqual(effectLine!.step_name, "effect_step")
        assert.strictEqual(effectLine!.span_name, "StepHandler effect_step")
        const annotationKeys = (line: Record<string, unknown>) =>
          Object.keys(line).filter((k) => !["timestamp", "level", "message", "order_id", "code", "trace_id", "span_id", "span_name"].includes(k)).sort()
        assert.deepStrictEqual(annotationKeys(promiseLines[1]!), annotationKeys(effectLine!))
        // fields given to ctx.log are the line's fields, as Effect.log's objects are
        assert.strictEqual(promiseLines[1]!.order_id, 42)
        assert.strictEqual(effectLine!.order_id, 42)
        assert.strictEqual(promiseLines[3]!.code, "E_TEST")
      }))
  })
})
