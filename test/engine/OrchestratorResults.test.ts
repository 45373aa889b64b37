/**
 * Results applied by the orchestrator (inline result processing off): the orchestrator's metrics and logs carry
 * the task's namespace, name and correlation as the inline path's do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Pair = Workflow.make({ namespace: "via_orch", name: "pair", version: "1.0.0", identityStrategy: "always_unique" })
  .step("one", { run: () => Effect.succeed(1) })
  .step("two", { dependsOn: ["one"], run: () => Effect.succeed(2) })

/** The sum of a counter over its series whose attributes include `match`. */
const counted = (id: string, match: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshots) =>
    snapshots
      .filter((s) => s.id === id && Object.entries(match).every(([k, v]) => s.attributes?.[k] === v))
      .reduce((sum, s) => sum + Number((s.state as { count: number }).count), 0))

/**
 * `counted`, once it reaches `expected` (or after 5 s): the orchestrator records its metrics once its transaction
 * has returned, which may be just after the task's notification woke the waiter.
 */
const countedEventually = (id: string, match: Record<string, string>, expected: number) =>
  Effect.gen(function*() {
    let count = yield* counted(id, match)
    for (let i = 0; i < 100 && count !== expected; i++) {
      yield* Effect.sleep("50 millis")
      count = yield* counted(id, match)
    }
    return count
  })

describe("results applied by the orchestrator", () => {
  it.live("count enqueued steps and completions with the task's namespace, type and correlation", () =>
    Effect.gen(function*() {
      const init = yield* TaskInitializer
      const queries = yield* TaskQueries
      const created = yield* init.createTask({ namespace: "via_orch", name: "pair", version: "1.0.0", context: {} })
      assert.strictEqual((yield* queries.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })).status, "complete")
      const correlation = { correlation_id: created.correlation_id }
      // step one at creation, step two by the orchestrator after one's result
      assert.strictEqual(yield* countedEventually("tasker.steps.enqueued.total", { namespace: "via_orch", ...correlation }, 2), 2)
      const completions = { namespace: "via_orch", task_type: "pair", ...correlation }
      assert.strictEqual(yield* countedEventually("tasker.tasks.completions.total", completions, 1), 1)
      const results = { namespace: "via_orch", result_type: "success", ...correlation }
      assert.strictEqual(yield* countedEventually("tasker.steps.results_processed.total", results, 2), 2)
    }).pipe(
      Effect.provide(
        engineLayer({ templates: [Pair], settings: { pollIntervalMs: 200, inlineResultProcessing: false } }).pipe(
          Layer.provideMerge(TestDatabaseLayer)
        )
      )
    ), 60_000)
})
