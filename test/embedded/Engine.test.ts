/**
 * The whole engine on the embedded database: the example workflows end to end with exact results, a retryable
 * failure that recovers, notifications feeding the wake-ups (event-driven mode, no polling to fall back on), and
 * two orchestrators and two workers sharing the one PGlite session.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { embeddedLayer } from "../../layers/embedded.ts"
import { engineLayer, type EngineOptions } from "../../layers/engine.ts"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import { exampleTemplates } from "../../src/examples/index.ts"
import { PaymentResult, ShipmentResult } from "../../src/examples/OrderFulfillmentWorkflow.ts"
import { NotificationSource } from "../../src/db/Notifications.ts"
import { NOTIFY_CHANNEL } from "../../src/messaging/Channels.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import type { StepContext } from "../../src/workflow/StepContext.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { envelopeOf, errorOf, type FinishedTask, resultOf, runTask, stepOf } from "../examples/Harness.ts"
import { auditTransitions } from "../support/Audit.ts"

const EmbeddedExamples = engineLayer({ templates: exampleTemplates, settings: { pollIntervalMs: 200 } }).pipe(
  Layer.provideMerge(embeddedLayer())
)

const results = (task: FinishedTask, names: ReadonlyArray<string>) => names.map((name) => resultOf(stepOf(task, name)))

const allComplete = (task: FinishedTask) => {
  assert.strictEqual(task.status, "complete")
  for (const [name, step] of task.steps) {
    assert.strictEqual(step.current_state, "complete", name)
    assert.strictEqual(step.attempts, 1, name)
  }
}

const order = {
  customer: { id: 12345, name: "Jane Doe", email: "jane.doe@example.com" },
  items: [{ sku: "WIDGET-001", quantity: 2, price: 29.99 }, { sku: "GADGET-002", quantity: 1, price: 149.99 }],
  payment: { method: "credit_card", token: "tok_test_12345" },
  shipping: { method: "standard", address: { street: "123 Main St", city: "Springfield", state: "IL", zip: "62701" } }
}

layer(EmbeddedExamples, { excludeTestServices: true })("example workflows on PGlite", (it) => {
  it.effect("the math workflows compute exact results", () =>
    Effect.gen(function*() {
      const [linear, diamond, tree] = yield* Effect.all([
        runTask("rust_e2e_linear", "mathematical_sequence", { even_number: 6 }),
        runTask("rust_e2e_diamond", "diamond_pattern", { even_number: 6 }),
        runTask("rust_e2e_tree", "hierarchical_tree", { even_number: 6 })
      ], { concurrency: "unbounded" })
      allComplete(linear)
      assert.deepStrictEqual(
        results(linear, ["linear_step_1", "linear_step_2", "linear_step_3", "linear_step_4"]),
        ["36", "1296", "1679616", "2821109907456"]
      )
      allComplete(diamond)
      assert.deepStrictEqual(
        results(diamond, ["diamond_start", "diamond_branch_b", "diamond_branch_c", "diamond_end"]),
        ["36", "1296", "1296", "2821109907456"]
      )
      allComplete(tree)
      assert.strictEqual(tree.steps.size, 8)
      assert.deepStrictEqual(results(tree, ["tree_root", "tree_branch_left", "tree_leaf_g"]), ["36", "1296", "1679616"])
      assert.strictEqual(
        resultOf(stepOf(tree, "tree_final_convergence")),
        "63340286662973277706162286946811886609896461828096"
      )
    }))

  it.effect("an odd number fails the root step permanently and blocks the task", () =>
    Effect.gen(function*() {
      const task = yield* runTask("rust_e2e_linear", "mathematical_sequence", { even_number: 7 })
      assert.strictEqual(task.status, "blocked_by_failures")
      const root = stepOf(task, "linear_step_1")
      assert.deepStrictEqual([root.current_state, root.attempts], ["error", 1])
      assert.strictEqual(errorOf(root).code, "VALIDATION_ERROR")
      assert.strictEqual(stepOf(task, "linear_step_2").current_state, "pending")
    }))

  it.effect("order fulfillment: exact totals, fee and shipping", () =>
    Effect.gen(function*() {
      const task = yield* runTask("rust_e2e_order_fulfillment", "business_workflow", order)
      allComplete(task)
      const payment = Schema.decodeUnknownSync(PaymentResult)(resultOf(stepOf(task, "process_payment")))
      assert.strictEqual(payment.amount_charged, 209.97)
      assert.strictEqual(payment.gateway_response.gateway_fee, 6.09)
      assert.strictEqual(payment.payment_status, "completed")
      const shipment = Schema.decodeUnknownSync(ShipmentResult)(resultOf(stepOf(task, "ship_order")))
      assert.deepStrictEqual([shipment.carrier, shipment.service_type, shipment.shipping_cost], ["UPS", "UPS Ground", 10.24])
    }))

  it.effect("a retryable failure is retried and succeeds; one out of attempts blocks the task", () =>
    Effect.gen(function*() {
      const [recovered, exhausted] = yield* Effect.all([
        runTask("test_errors", "retryable_error_success", {}),
        runTask("test_errors", "retryable_error_exhausted", {})
      ], { concurrency: "unbounded" })
      assert.strictEqual(recovered.status, "complete")
      const step = stepOf(recovered, "retryable_then_success_step")
      assert.deepStrictEqual([step.current_state, step.attempts, envelopeOf(step).metadata.attempt], ["complete", 2, 2])
      assert.deepStrictEqual(resultOf(step), {
        scenario: "retryable_error_success",
        attempt: 2,
        message: "succeeded after a retry"
      })
      assert.strictEqual(exhausted.status, "blocked_by_failures")
      const failed = stepOf(exhausted, "retryable_error_step")
      assert.deepStrictEqual([failed.current_state, failed.attempts], ["error", 2])
      assert.strictEqual(errorOf(failed).code, "TRANSIENT_ERROR")
    }))

  it.effect("the recorded transitions follow the state machines", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* auditTransitions, [])
    }))

  it.effect("the notification source delivers queue sends from PL/pgSQL", () =>
    Effect.gen(function*() {
      const source = yield* NotificationSource
      const sql = yield* SqlClient.SqlClient
      const payloads = yield* source.listen(NOTIFY_CHANNEL)
      yield* sql`SELECT tasker_create_queue('embedded_notify_test')`
      yield* sql.withTransaction(sql`SELECT tasker_send('embedded_notify_test', '{}'::jsonb)`)
      // other payloads (the engine's own traffic) may arrive in between
      while ((yield* Queue.take(payloads)) !== "embedded_notify_test") {
        // keep reading
      }
    }).pipe(Effect.scoped))
})

const EventDriven = engineLayer({
  templates: exampleTemplates,
  // no polling to fall back on: the worker learns of steps enqueued by the orchestrator, and the waiter of the
  // task's end, only through the NOTIFYs the PL/pgSQL functions send
  settings: { deploymentMode: "event_driven", pollIntervalMs: 60_000, inlineResultProcessing: false }
}).pipe(Layer.provideMerge(embeddedLayer()))

layer(EventDriven, { excludeTestServices: true })("event-driven engine on PGlite", (it) => {
  it.effect("runs a workflow through the results queue without polling", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const task = yield* runTask("rust_e2e_diamond", "diamond_pattern", { even_number: 6 })
      allComplete(task)
      assert.strictEqual(resultOf(stepOf(task, "diamond_end")), "2821109907456")
      assert.isBelow(Date.now() - started, 10_000)
    }))
})

// ---------------------------------------------------------------------------------------------------------------

const successes = new Map<string, number>()
const workersSeen = new Set<string>()

const work = (ctx: StepContext<unknown>) =>
  Effect.gen(function*() {
    if (ctx.attempt === 1 && parseInt(ctx.stepUuid.slice(-2), 16) % 10 === 0) {
      return yield* StepError.retryable("transient")
    }
    workersSeen.add((yield* CurrentProcessor).processorUuid)
    successes.set(ctx.stepUuid, (successes.get(ctx.stepUuid) ?? 0) + 1)
    return Object.keys(ctx.dependencyResults).length
  })

const retry = { backoff: "none" as const, maxAttempts: 3 }
const Diamond = Workflow.make({ namespace: "embedded", name: "diamond", version: "1.0.0", identityStrategy: "always_unique" })
  .step("start", { retry, run: work })
  .step("left", { retry, dependsOn: ["start"], run: work })
  .step("right", { retry, dependsOn: ["start"], run: work })
  .step("end", { retry, dependsOn: ["left", "right"], run: work })

describe("several engines on one embedded database", () => {
  it.live("2 orchestrators + 2 workers share the session: every task completes, no step succeeds twice", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.Scope
      const database = yield* Layer.buildWithScope(embeddedLayer(), scope)
      const start = <R = never>(options: EngineOptions<R>) =>
        Layer.buildWithScope(engineLayer(options).pipe(Layer.provideMerge(Layer.succeedContext(database))), scope)
      const settings = { pollIntervalMs: 200, resultBatchSize: 5, readyTaskBatchSize: 5, inlineResultProcessing: false }
      const client = yield* start({ orchestrator: true, settings })
      yield* start({ orchestrator: true, settings })
      yield* start({ templates: [Diamond], orchestrator: false, settings: { ...settings, workerConcurrency: 4 } })
      yield* start({ templates: [Diamond], orchestrator: false, settings: { ...settings, workerConcurrency: 4 } })

      const finished = yield* Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const created = yield* Effect.forEach(
          Array.from({ length: 40 }, () => 0),
          () => init.createTask({ namespace: "embedded", name: "diamond", version: "1.0.0" }),
          { concurrency: 10 }
        )
        return yield* Effect.forEach(
          created,
          (c) => queries.waitForCompletion(c.task_uuid, { timeout: "60 seconds" }),
          { concurrency: "unbounded" }
        )
      }).pipe(Effect.provideContext(client))
      assert.strictEqual(finished.filter((t) => t.status === "complete").length, 40)

      const sql = Context.get(database, SqlClient.SqlClient)
      const steps = yield* sql<{ workflow_step_uuid: string; completes: number }>`
        SELECT ws.workflow_step_uuid::text,
          (SELECT count(*)::int FROM tasker_workflow_step_transitions st
           WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = 'complete') AS completes
        FROM tasker_workflow_steps ws`
      assert.strictEqual(steps.length, 160)
      for (const step of steps) {
        assert.strictEqual(step.completes, 1)
        assert.strictEqual(successes.get(step.workflow_step_uuid), 1)
      }
      assert.strictEqual(workersSeen.size, 2, "both workers ran steps")
      const [retried] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_workflow_steps WHERE attempts > 1`
      assert.isAbove(retried!.n, 0)
      assert.deepStrictEqual(yield* auditTransitions.pipe(Effect.provideContext(database)), [])
    }).pipe(Effect.scoped), { timeout: 120_000 })
})
