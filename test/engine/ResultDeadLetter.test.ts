/**
 * A result message that keeps failing to apply (here: a trigger on the real database refuses the step's `complete`
 * transition) is retried after its visibility timeout, then moved to the results queue's dead-letter archive after
 * `maxReadCount` reads, with its reason. The results queue keeps flowing for other tasks, the step waits in
 * `enqueued_for_orchestration`, and an operator's `resolveStep` lets the task finish (docs/engine.md, "Known
 * limitations"; docs/reliability.md).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import type { StepUuid } from "../../src/domain/Ids.ts"
import { RESULTS_QUEUE } from "../../src/messaging/Channels.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskOperations } from "../../src/tasks/TaskOperations.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Poisoned = Workflow.make({ namespace: "dead_letters", name: "poisoned", version: "1.0.0", identityStrategy: "always_unique" })
  .step("first", { run: () => Effect.succeed(1) })
  .step("refused", { dependsOn: ["first"], run: () => Effect.succeed(2) })
  .step("last", { dependsOn: ["refused"], run: () => Effect.succeed(3) })

const Healthy = Workflow.make({ namespace: "dead_letters", name: "healthy", version: "1.0.0", identityStrategy: "always_unique" })
  .step("only", { run: () => Effect.succeed("ok") })

/** Refuses the `complete` transition of every step named `refused`: applying its result fails every time. */
const installFault = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    CREATE FUNCTION test_refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.to_state = 'complete' AND EXISTS (
        SELECT 1 FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
        WHERE ws.workflow_step_uuid = NEW.workflow_step_uuid AND ns.name = 'refused') THEN
        RAISE EXCEPTION 'test fault: completion of step refused';
      END IF;
      RETURN NEW;
    END
    $fn$`).unprepared
  yield* sql.unsafe(`
    CREATE TRIGGER test_refuse_completion BEFORE INSERT ON tasker_workflow_step_transitions
    FOR EACH ROW EXECUTE FUNCTION test_refuse_completion()`).unprepared
})

const TestLayer = engineLayer({
  templates: [Poisoned, Healthy],
  settings: { pollIntervalMs: 200, inlineResultProcessing: false, visibilityTimeoutSeconds: 1, maxReadCount: 2 }
}).pipe(Layer.provideMerge(TestDatabaseLayer))

describe("a result message that keeps failing to apply", () => {
  it.live("is dead-lettered after maxReadCount reads; the queue keeps flowing; resolveStep finishes the task", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const init = yield* TaskInitializer
      const queries = yield* TaskQueries
      yield* installFault
      const poisoned = yield* init.createTask({ namespace: "dead_letters", name: "poisoned", version: "1.0.0", context: {} })
      const refused = poisoned.step_mapping["refused"] as StepUuid

      const deadLetters = sql<{ reason: string; read_ct: number; step_uuid: string }>`
        SELECT reason, read_ct, message ->> 'step_uuid' AS step_uuid FROM tasker_queue_archive
        WHERE queue_name = ${RESULTS_QUEUE} AND dead_letter`
      const [dead] = yield* deadLetters.pipe(
        Effect.filterOrFail((rows) => rows.length > 0, () => "not dead-lettered yet"),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "30 seconds" })))
      )
      // read once per visibility timeout while it failed (maxReadCount 2), then archived at the next read
      assert.deepStrictEqual([dead!.step_uuid, dead!.read_ct, dead!.reason], [refused, 3, "read 3 times without being processed"])
      const [queued] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM tasker_queue_messages WHERE queue_name = ${RESULTS_QUEUE}`
      assert.strictEqual(queued!.n, 0)

      // the step waits for an operator; the task is not finished and nothing after the step ran
      const before = yield* queries.getTask(poisoned.task_uuid)
      assert.notStrictEqual(before.status, "complete")
      const steps = yield* sql<{ name: string; current_state: string }>`
        SELECT ns.name, ws.current_state FROM tasker_workflow_steps ws
        JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
        WHERE ws.task_uuid = ${poisoned.task_uuid} ORDER BY ns.name`
      assert.deepStrictEqual(steps.map((s) => [s.name, s.current_state]), [
        ["first", "complete"],
        ["last", "pending"],
        ["refused", "enqueued_for_orchestration"]
      ])

      // the results queue keeps flowing for other tasks
      const healthy = yield* init.createTask({ namespace: "dead_letters", name: "healthy", version: "1.0.0", context: {} })
      assert.strictEqual((yield* queries.waitForCompletion(healthy.task_uuid, { timeout: "20 seconds" })).status, "complete")

      // an operator resolves the step with the result its dependents should see: the task finishes
      yield* (yield* TaskOperations).resolveStep(poisoned.task_uuid, refused, {
        resultData: 2,
        resolvedBy: "test",
        reason: "result dead-lettered"
      })
      assert.strictEqual((yield* queries.waitForCompletion(poisoned.task_uuid, { timeout: "20 seconds" })).status, "complete")
    }).pipe(Effect.provide(TestLayer)), 60_000)
})
