/**
 * The example tasks `tasker serve --examples` (what `npm start` runs) submits, so that a new user finds something
 * on the dashboard at once: tasks of the example templates that show the main outcomes.
 *
 * | task | outcome |
 * |---|---|
 * | `rust_e2e_diamond/diamond_pattern` (`even_number` 8) | `complete`: a DAG whose two branches run in parallel |
 * | `rust_e2e_order_fulfillment/business_workflow` (the sample order) | `complete`: a business workflow's results |
 * | `test_errors/retryable_error_success` | `complete` on its second attempt: a retry and its backoff in the timeline |
 * | `test_errors/permanent_error_only` | `blocked_by_failures`: a failed step to resolve (or retry) from the dashboard |
 *
 * They are submitted only into a database without any task, so restarts on a kept database (`--data-dir`,
 * `DATABASE_URL`) do not pile them up. Each carries the tag `example` and its own idempotency key, so a task a user
 * creates with the same context is a new task.
 */
import { Effect, type Schema } from "effect"
import { SqlClient } from "effect/sql"
import { TaskInitializer, type TaskRequest } from "../tasks/TaskInitializer.ts"
import type { WorkflowDefinition } from "../workflow/Workflow.ts"
import { DiamondWorkflow } from "./DiamondWorkflow.ts"
import { PermanentErrorOnlyWorkflow, RetryableErrorSuccessWorkflow } from "./ErrorScenarioWorkflows.ts"
import { OrderFulfillmentWorkflow } from "./OrderFulfillmentWorkflow.ts"

/** The sample order of the order fulfillment tests: two widgets, one gadget, standard shipping. */
export const sampleOrder = {
  customer: { id: 12345, name: "Jane Doe", email: "jane.doe@example.com" },
  items: [
    { sku: "WIDGET-001", quantity: 2, price: 29.99 },
    { sku: "GADGET-002", quantity: 1, price: 149.99 }
  ],
  payment: { method: "credit_card", token: "tok_test_12345" },
  shipping: {
    method: "standard",
    address: { street: "123 Main St", city: "Springfield", state: "IL", zip: "62701" }
  }
}

/** The tag every example task carries. */
export const EXAMPLE_TAG = "example"

const example = (
  workflow: WorkflowDefinition<never>,
  context: Schema.Json,
  reason: string
): TaskRequest => ({
  namespace: workflow.namespace,
  name: workflow.name,
  version: workflow.version,
  context,
  reason,
  initiator: "tasker serve --examples",
  tags: [EXAMPLE_TAG],
  idempotency_key: `example:${workflow.namespace}/${workflow.name}`
})

/** The example task requests, in the order they are submitted. */
export const exampleTaskRequests: ReadonlyArray<TaskRequest> = [
  example(DiamondWorkflow, { even_number: 8 }, "example: completes, two branches in parallel"),
  example(OrderFulfillmentWorkflow, sampleOrder, "example: a business workflow that completes"),
  example(RetryableErrorSuccessWorkflow, {}, "example: fails once, completes on its retry"),
  example(PermanentErrorOnlyWorkflow, {}, "example: fails permanently; resolve its step from the dashboard")
]

/** The templates the example tasks need. */
export const exampleTaskTemplates: ReadonlyArray<WorkflowDefinition<never>> = [
  DiamondWorkflow,
  OrderFulfillmentWorkflow,
  RetryableErrorSuccessWorkflow,
  PermanentErrorOnlyWorkflow
]

/**
 * Submits the example tasks (in one transaction) when the database has no task yet: the tasks it created (none when
 * there was a task already).
 */
export const submitExampleTasks = Effect.fn("tasker.examples.submit")(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM tasker_tasks) AS any`
  if (row?.any === true) return []
  // another process starting on the same database may have submitted them a moment ago: theirs are matched by
  // their idempotency keys, not created twice
  const tasks = yield* (yield* TaskInitializer).createTasks(exampleTaskRequests)
  return tasks.filter((t) => t.created)
})
