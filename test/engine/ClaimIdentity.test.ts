/**
 * A worker's result, give-back or visibility extension acts only on the claim it names (the message's `claim_id`, new at every read),
 * not on whatever claim the step has now. The case that needs it: with asynchronous commit, a crash of the
 * PostgreSQL server can undo a claim that its worker already acted on (it ran the handler). The step is then
 * claimed again with the same attempt number — on a new message, or on one whose msg_id came back — and the first
 * worker's late result must not complete it under the new claim (the fault run caught a step that ran before its
 * parent completed that way). Here the lost claim is written back by hand, as the crash leaves the rows.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { EngineFunctions } from "../../src/db/EngineFunctions.ts"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import type { StepUuid } from "../../src/domain/Ids.ts"
import { workerQueueName } from "../../src/messaging/Channels.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Single = Workflow.make({ namespace: "claims", name: "single", version: "1.0.0", identityStrategy: "always_unique" })
  .step("only", { run: () => Effect.succeed(1) })

// no worker and no orchestrator loops: the test claims and submits by hand
const TestLayer = engineLayer({ orchestrator: false, worker: false }).pipe(Layer.provideMerge(TestDatabaseLayer))
const queue = workerQueueName("claims")

const claimOne = Effect.gen(function*() {
  const engine = yield* EngineFunctions
  const { processorUuid } = yield* CurrentProcessor
  const rows = yield* engine.claimStepMessages({ queue, processorUuid, limit: 1, visibilityTimeoutSeconds: 30 })
  assert.strictEqual(rows.length, 1)
  assert.strictEqual(rows[0]!.outcome, "claimed")
  return rows[0]!
})

const submit = (claim: { msg_id: bigint; claim_id: string | null; step_uuid: StepUuid | null; task_uuid: unknown; attempts: number | null }) =>
  Effect.gen(function*() {
    const engine = yield* EngineFunctions
    const { processorUuid } = yield* CurrentProcessor
    const [row] = yield* engine.submitStepResults({
      queue,
      processorUuid,
      results: [{
        msgId: claim.msg_id,
        claimId: claim.claim_id!,
        stepUuid: claim.step_uuid!,
        taskUuid: claim.task_uuid as never,
        attempts: claim.attempts!,
        success: true,
        results: { step_uuid: claim.step_uuid, success: true, status: "completed", result: 1, metadata: {} },
        headers: {}
      }],
      processInline: true,
      maxBackoffSeconds: 300,
      jitter: 0,
      extraSlots: 0,
      visibilityTimeoutSeconds: 30,
      handoff: true
    })
    return row!
  })

/** What a server crash leaves when it undoes the claim's transaction: the step enqueued again, attempt not used. */
const undoClaim = (stepUuid: StepUuid) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM tasker_workflow_step_transitions
               WHERE workflow_step_uuid = ${stepUuid} AND to_state = 'in_progress' AND sort_key = (
                 SELECT max(sort_key) FROM tasker_workflow_step_transitions WHERE workflow_step_uuid = ${stepUuid})`
    yield* sql`UPDATE tasker_workflow_steps SET current_state = 'enqueued', in_process = false, attempts = 0
               WHERE workflow_step_uuid = ${stepUuid}`
  })

const stepState = (stepUuid: StepUuid) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ current_state: string; attempts: number }>`
      SELECT current_state, attempts FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
    return row!
  })

/** The services a test uses, with the template registered. */
const setup = Effect.gen(function*() {
  yield* (yield* TemplateRegistry).register(Single)
  return {
    sql: yield* SqlClient.SqlClient,
    engine: yield* EngineFunctions,
    processorUuid: (yield* CurrentProcessor).processorUuid,
    tasks: yield* TaskInitializer
  }
})

describe("claim identity", () => {
  it.effect("a result, give-back or extension of a claim a crash undid does not act on the step's new claim", () =>
    Effect.gen(function*() {
      const { sql, engine, processorUuid, tasks } = yield* setup

      // 1. the step's message comes back with the same msg_id (the sequence value reused after the crash)
      yield* tasks.createTask({ namespace: "claims", name: "single", version: "1.0.0", context: {} })
      const lost = yield* claimOne
      yield* undoClaim(lost.step_uuid!)
      yield* sql`UPDATE tasker_queue_messages SET vt = now(), read_ct = 0, claim_id = NULL
                 WHERE queue_name = ${queue} AND msg_id = ${lost.msg_id}`
      const current = yield* claimOne
      assert.strictEqual(current.msg_id, lost.msg_id)
      assert.strictEqual(current.attempts, lost.attempts)
      assert.notStrictEqual(current.claim_id, lost.claim_id)

      const late = yield* submit(lost)
      assert.strictEqual(late.outcome, "superseded")
      assert.deepStrictEqual(yield* stepState(lost.step_uuid!), { current_state: "in_progress", attempts: 1 })
      const released = yield* engine.releaseStep({
        queue,
        msgId: lost.msg_id,
        claimId: lost.claim_id!,
        stepUuid: lost.step_uuid!,
        attempts: 1,
        processorUuid
      })
      assert.isFalse(released)
      // nor does its visibility extension hold the current claim's message back; the current claim's does
      assert.isFalse(yield* engine.extendClaim(queue, lost.msg_id, lost.claim_id!, 600))
      assert.isTrue(yield* engine.extendClaim(queue, current.msg_id, current.claim_id!, 30))
      assert.strictEqual((yield* stepState(lost.step_uuid!)).current_state, "in_progress")
      // the current claim's result is applied
      assert.strictEqual((yield* submit(current)).outcome, "processed")
      assert.strictEqual((yield* stepState(lost.step_uuid!)).current_state, "complete")

      // 2. the step is enqueued again on a new message (the lost claim's message went with the crash)
      yield* tasks.createTask({ namespace: "claims", name: "single", version: "1.0.0", context: {} })
      const lost2 = yield* claimOne
      yield* undoClaim(lost2.step_uuid!)
      yield* sql`DELETE FROM tasker_queue_messages WHERE queue_name = ${queue} AND msg_id = ${lost2.msg_id}`
      yield* sql`SELECT tasker_send(${queue}, jsonb_build_object('step_uuid', ${lost2.step_uuid}::text), '{}'::jsonb)`
      const current2 = yield* claimOne
      assert.notStrictEqual(current2.msg_id, lost2.msg_id)
      assert.strictEqual(current2.attempts, lost2.attempts)
      assert.strictEqual((yield* submit(lost2)).outcome, "superseded")
      assert.strictEqual((yield* submit(current2)).outcome, "processed")
    }).pipe(Effect.provide(TestLayer)), 60_000)

  it.effect("one read claims several steps (their Starts written together); a second message for one of them reclaims it", () =>
    Effect.gen(function*() {
      const { sql, engine, processorUuid, tasks } = yield* setup
      const created = yield* Effect.forEach([1, 2, 3], () =>
        tasks.createTask({ namespace: "claims", name: "single", version: "1.0.0", context: {} }))
      const steps = created.map((c) => c.step_mapping.only! as StepUuid)
      // a stray second message for the second task's step, behind the three
      yield* sql`SELECT tasker_send(${queue}, jsonb_build_object('step_uuid', ${steps[1]!}::text), '{}'::jsonb)`

      const rows = yield* engine.claimStepMessages({ queue, processorUuid, limit: 10, visibilityTimeoutSeconds: 30 })
      assert.deepStrictEqual(rows.map((r) => [r.step_uuid, r.outcome, r.attempts]), [
        [steps[0], "claimed", 1],
        [steps[1], "claimed", 2],
        [steps[2], "claimed", 1],
        [steps[1], "claimed", 2]
      ])
      const events = yield* sql<{ step: string; event: string; attempts: number }>`
        SELECT st.workflow_step_uuid::text AS step, st.metadata ->> 'event' AS event, ws.attempts
        FROM tasker_workflow_step_transitions st JOIN tasker_workflow_steps ws USING (workflow_step_uuid)
        WHERE st.workflow_step_uuid = ANY(${steps}::uuid[]) AND st.sort_key > 1
        ORDER BY array_position(${steps}::uuid[], st.workflow_step_uuid), st.sort_key`
      assert.deepStrictEqual(events.map((e) => [e.step, e.event]), [
        [steps[0], "Enqueue"],
        [steps[0], "Start"],
        [steps[1], "Enqueue"],
        [steps[1], "Start"],
        [steps[1], "Reclaim"],
        [steps[2], "Enqueue"],
        [steps[2], "Start"]
      ])
      assert.deepStrictEqual(yield* stepState(steps[0]!), { current_state: "in_progress", attempts: 1 })
      assert.deepStrictEqual(yield* stepState(steps[1]!), { current_state: "in_progress", attempts: 2 })
    }).pipe(Effect.provide(TestLayer)), 60_000)
})
