/**
 * A worker's batch of successful results is applied set-based (`tasker_complete_step_results`: a fixed number of
 * statements for the whole batch), one success alone by a flat function (`tasker_complete_step_result`); a batch
 * with a failure, or with a result that does not count, goes result by result. These paths must write exactly what
 * the per-result path writes: these tests submit batches and single results by hand (no worker
 * loop) and check outcomes, the hand-off of ready children (one per completed step, then the extra slots in result
 * order), a child whose two parents complete in the same batch, the end of a task, the results that do not count
 * (another claim's, an ended step's), and the audit of every recorded transition and counter.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { type ClaimRow, EngineFunctions, type HandedOffClaim } from "../../src/db/EngineFunctions.ts"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import type { StepUuid, TaskUuid } from "../../src/domain/Ids.ts"
import { workerQueueName } from "../../src/messaging/Channels.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { auditTransitions } from "../support/Audit.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Diamond = Workflow.make({ namespace: "batched", name: "diamond", version: "1.0.0", identityStrategy: "always_unique" })
  .step("a", { run: () => Effect.succeed("a") })
  .step("b", { dependsOn: ["a"], run: () => Effect.succeed("b") })
  .step("c", { dependsOn: ["a"], run: () => Effect.succeed("c") })
  .step("d", { dependsOn: ["b", "c"], run: () => Effect.succeed("d") })

// no worker and no orchestrator loops: the test claims and submits by hand
const TestLayer = engineLayer({ orchestrator: false, worker: false }).pipe(Layer.provideMerge(TestDatabaseLayer))
const queue = workerQueueName("batched")

type Claim = Pick<ClaimRow, "msg_id" | "claim_id" | "step_uuid" | "task_uuid" | "attempts" | "step_name"> | HandedOffClaim

const claim = (limit: number) =>
  Effect.gen(function*() {
    const engine = yield* EngineFunctions
    const { processorUuid } = yield* CurrentProcessor
    const rows = yield* engine.claimStepMessages({ queue, processorUuid, limit, visibilityTimeoutSeconds: 30 })
    assert.isTrue(rows.every((r) => r.outcome === "claimed"))
    return rows
  })

/**
 * Submits `claims`' results as a worker does. `counted: false`: a result of the batch does not count (another
 * claim's, an ended or unknown step): the fast path gives the whole batch to the per-result path.
 */
const submit = (
  claims: ReadonlyArray<Claim>,
  options: { readonly extraSlots?: number; readonly claimId?: string; readonly counted?: boolean } = {}
) =>
  Effect.gen(function*() {
    const engine = yield* EngineFunctions
    const sql = yield* SqlClient.SqlClient
    const { processorUuid } = yield* CurrentProcessor
    // in a transaction of the test's, which counts the functions the submission called (pg_stat_xact_user_functions:
    // the session's calls not yet flushed to the shared statistics, so taken before and after)
    yield* sql`SELECT set_config('track_functions', 'pl', true)`
    const calls = sql<{ funcname: string; calls: number }>`
      SELECT f.name AS funcname, COALESCE((SELECT x.calls::int FROM pg_stat_xact_user_functions x WHERE x.funcname = f.name), 0) AS calls
      FROM unnest(ARRAY['tasker_complete_step_results', 'tasker_complete_step_result', 'tasker_submit_step_result'])
        AS f(name)`
    const before = yield* calls
    const rows = yield* engine.submitStepResults({
      queue,
      processorUuid,
      results: claims.map((c) => ({
        msgId: c.msg_id,
        claimId: options.claimId ?? c.claim_id!,
        stepUuid: c.step_uuid!,
        taskUuid: c.task_uuid as TaskUuid,
        attempts: c.attempts!,
        success: true,
        results: { step_uuid: c.step_uuid, success: true, status: "completed", result: c.step_name, metadata: {} },
        headers: {}
      })),
      processInline: true,
      maxBackoffSeconds: 300,
      jitter: 0,
      extraSlots: options.extraSlots ?? 0,
      visibilityTimeoutSeconds: 30,
      handoff: true
    })
    const after = yield* calls
    // a batch went the set-based way, a result alone the flat one, and the per-result way took none of them; when one
    // does not count, the per-result way took every one (the undone fast path's call is not counted: the statistics
    // of a rolled-back subtransaction are dropped)
    const fast = options.counted !== false
    const single = claims.length === 1
    assert.deepStrictEqual(after.map((c, i) => [c.funcname, c.calls - before[i]!.calls]), [
      ["tasker_complete_step_results", fast && !single ? 1 : 0],
      ["tasker_complete_step_result", fast && single ? 1 : 0],
      ["tasker_submit_step_result", fast ? 0 : claims.length]
    ])
    return rows
  }).pipe((self) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(self)))

const steps = (taskUuid: unknown) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ name: string; current_state: string; unfinished_parents: number; attempts: number }>`
      SELECT ns.name, ws.current_state, ws.unfinished_parents, ws.attempts
      FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
      WHERE ws.task_uuid = ${taskUuid as string} ORDER BY ns.name`
    return Object.fromEntries(rows.map((r) => [r.name, `${r.current_state}/${r.unfinished_parents}/${r.attempts}`]))
  })

const task = (taskUuid: unknown) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ current_state: string; active_steps: number }>`
      SELECT current_state, active_steps FROM tasker_tasks WHERE task_uuid = ${taskUuid as string}`
    return `${row!.current_state}/${row!.active_steps}`
  })

const visibleMessages = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ step_uuid: string }>`
    SELECT message ->> 'step_uuid' AS step_uuid FROM tasker_queue_messages
    WHERE queue_name = ${queue} AND vt <= now() ORDER BY msg_id`
  return rows.map((r) => r.step_uuid)
})

const setup = Effect.gen(function*() {
  yield* (yield* TemplateRegistry).register(Diamond)
  const tasks = yield* TaskInitializer
  const x = yield* tasks.createTask({ namespace: "batched", name: "diamond", version: "1.0.0", context: {} })
  const y = yield* tasks.createTask({ namespace: "batched", name: "diamond", version: "1.0.0", context: {} })
  return { x: x.task_uuid, y: y.task_uuid }
})

/** Both tasks' roots claimed from the queue, by task. */
const setupClaimed = Effect.gen(function*() {
  const { x, y } = yield* setup
  const roots = yield* claim(2)
  const rootOf = (t: unknown) => roots.find((r) => r.task_uuid === t)!
  return { x, y, rootOf }
})

describe("batched completions", () => {
  it.effect("a batch of successes hands children off, releases a child of two parents once and ends a task", () =>
    Effect.gen(function*() {
      const { rootOf, x, y } = yield* setupClaimed

      // both roots in one batch, one free slot besides their own: the first result takes both of its children, the
      // second one (its own slot), its other child is enqueued
      const first = yield* submit([rootOf(x), rootOf(y)], { extraSlots: 1 })
      assert.deepStrictEqual(first.map((r) => [r.outcome, r.step_state, r.result_outcome, r.enqueued_count, r.claims.length]), [
        ["processed", "complete", "completed", 2, 2],
        ["processed", "complete", "completed", 2, 1]
      ])
      assert.deepStrictEqual(first.map((r) => r.task_state), ["steps_in_process", "steps_in_process"])
      assert.deepStrictEqual(first[0]!.claims.map((c) => c.step_name).sort(), ["b", "c"])
      for (const c of [...first[0]!.claims, ...first[1]!.claims]) {
        // a handed-off claim carries its parent's result, as a claim read from the queue does
        assert.deepStrictEqual(c.dependency_results, { a: "a" })
        assert.strictEqual(c.attempts, 1)
      }
      assert.deepStrictEqual(yield* steps(x), {
        a: "complete/0/1",
        b: "in_progress/0/1",
        c: "in_progress/0/1",
        d: "pending/2/0"
      })
      const yClaimed = first[1]!.claims[0]!
      const yEnqueued = yClaimed.step_name === "b" ? "c" : "b"
      assert.deepStrictEqual(yield* steps(y), {
        a: "complete/0/1",
        [yClaimed.step_name!]: "in_progress/0/1",
        [yEnqueued]: "enqueued/0/0",
        d: "pending/2/0"
      })
      assert.strictEqual((yield* visibleMessages).length, 1)
      assert.strictEqual(yield* task(x), "steps_in_process/2")
      assert.strictEqual(yield* task(y), "steps_in_process/2")

      // both parents of x's d complete in one batch: d is released once, to the first of them
      const second = yield* submit(first[0]!.claims)
      assert.deepStrictEqual(second.map((r) => [r.outcome, r.enqueued_count, r.claims.length]), [
        ["processed", 1, 1],
        ["processed", 0, 0]
      ])
      const d = second[0]!.claims[0]!
      assert.strictEqual(d.step_name, "d")
      assert.deepStrictEqual(d.dependency_results, { b: "b", c: "c" })
      assert.strictEqual(yield* task(x), "steps_in_process/1")

      // x's last step and y's handed-off child together: x ends (evaluated in the same transaction), y's d has one
      // unfinished parent left
      const third = yield* submit([d, yClaimed])
      const forX = third[0]!
      assert.deepStrictEqual([forX.outcome, forX.task_state, forX.claims.length], ["processed", "complete", 0])
      assert.deepStrictEqual([third[1]!.outcome, third[1]!.task_state, third[1]!.claims.length], [
        "processed",
        "steps_in_process",
        0
      ])
      assert.strictEqual(yield* task(x), "complete/0")
      assert.strictEqual(yield* task(y), "steps_in_process/1")
      assert.strictEqual((yield* steps(y)).d, "pending/1/0")

      const sql = yield* SqlClient.SqlClient
      const events = yield* sql<{ to_state: string }>`
        SELECT to_state FROM tasker_task_transitions WHERE task_uuid = ${x} ORDER BY sort_key`
      assert.deepStrictEqual(events.map((e) => e.to_state).slice(-2), ["evaluating_results", "complete"])
      assert.deepStrictEqual(yield* auditTransitions, [])
    }).pipe(Effect.provide(TestLayer)), 60_000)

  it.effect("results in a batch that do not count write nothing but their message's fate", () =>
    Effect.gen(function*() {
      const { rootOf, x, y } = yield* setupClaimed
      const sql = yield* SqlClient.SqlClient
      const engine = yield* EngineFunctions
      const { processorUuid } = yield* CurrentProcessor

      // another claim's result (its claim_id is not the message's): superseded, the message stays for its claim
      const stale = yield* submit([rootOf(x), rootOf(y)], {
        claimId: "00000000-0000-4000-8000-000000000000",
        counted: false
      })
      assert.deepStrictEqual(stale.map((r) => [r.outcome, r.step_state, r.task_state, r.claims.length]), [
        ["superseded", "in_progress", null, 0],
        ["superseded", "in_progress", null, 0]
      ])
      assert.strictEqual(yield* task(x), "steps_in_process/1")
      const [kept] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_queue_messages WHERE queue_name = ${queue}`
      assert.strictEqual(kept!.n, 2)

      // y cancelled meanwhile: its result is discarded and its message archived; x's result in the same batch counts
      yield* engine.cancelTask(y as TaskUuid, processorUuid, "test")
      const mixed = yield* submit([rootOf(y), rootOf(x)], { counted: false })
      assert.deepStrictEqual(mixed.map((r) => [r.outcome, r.step_state]), [
        ["discarded", "cancelled"],
        ["processed", "complete"]
      ])
      assert.strictEqual(mixed[1]!.claims.length, 1)
      const archived = yield* sql<{ reason: string; dead_letter: boolean }>`
        SELECT reason, dead_letter FROM tasker_queue_archive WHERE queue_name = ${queue}`
      assert.deepStrictEqual(archived.map((a) => [a.reason, a.dead_letter]), [["result of a step already cancelled", false]])
      assert.strictEqual(yield* task(y), "cancelled/0")
      assert.strictEqual(yield* task(x), "steps_in_process/2")
      assert.deepStrictEqual(yield* auditTransitions, [])
    }).pipe(Effect.provide(TestLayer)), 60_000)

  it.effect("a batch's result for a step claimed again puts its message back; one for an unknown step dead-letters it", () =>
    Effect.gen(function*() {
      const { rootOf, x, y } = yield* setupClaimed
      const sql = yield* SqlClient.SqlClient
      // x's step moved on to another attempt while its message is still this claim's (as after a crash undid a claim)
      yield* sql`UPDATE tasker_workflow_steps SET attempts = attempts + 1 WHERE workflow_step_uuid = ${rootOf(x).step_uuid!}`
      const unknown = "00000000-0000-4000-8000-0000000000aa"
      const rows = yield* submit([rootOf(x), { ...rootOf(y), step_uuid: unknown as StepUuid }], { counted: false })
      assert.deepStrictEqual(rows.map((r) => [r.outcome, r.step_state, r.task_uuid, r.claims.length]), [
        ["superseded", "in_progress", x, 0],
        ["discarded", null, null, 0]
      ])
      // x's message is back, as it was (same id, same claim); y's went to the dead letters
      const messages = yield* sql<{ msg_id: string; claim_id: string; read_ct: number }>`
        SELECT msg_id::text, claim_id::text, read_ct FROM tasker_queue_messages WHERE queue_name = ${queue}`
      assert.deepStrictEqual(messages, [{ msg_id: String(rootOf(x).msg_id), claim_id: rootOf(x).claim_id!, read_ct: 1 }])
      const archived = yield* sql<{ msg_id: string; reason: string; dead_letter: boolean }>`
        SELECT msg_id::text, reason, dead_letter FROM tasker_queue_archive WHERE queue_name = ${queue}`
      assert.deepStrictEqual(archived, [{ msg_id: String(rootOf(y).msg_id), reason: `unknown step ${unknown}`, dead_letter: true }])
      // nothing else written: both steps still in progress, no transition beyond their Start
      assert.strictEqual((yield* steps(x)).a, "in_progress/0/2")
      assert.strictEqual((yield* steps(y)).a, "in_progress/0/1")
    }).pipe(Effect.provide(TestLayer)), 60_000)

  it.effect("one result alone takes the flat path, with the same outcomes and message fates", () =>
    Effect.gen(function*() {
      const { rootOf, x, y } = yield* setupClaimed
      const sql = yield* SqlClient.SqlClient
      const engine = yield* EngineFunctions
      const { processorUuid } = yield* CurrentProcessor

      // its own slot and one free one: both children handed off
      const [root] = yield* submit([rootOf(x)], { extraSlots: 1 })
      assert.deepStrictEqual([root!.outcome, root!.step_state, root!.task_state, root!.enqueued_count], [
        "processed",
        "complete",
        "steps_in_process",
        2
      ])
      assert.deepStrictEqual(root!.claims.map((c) => c.step_name).sort(), ["b", "c"])
      assert.strictEqual(yield* task(x), "steps_in_process/2")

      // another claim's result: superseded, nothing written
      const [stale] = yield* submit([rootOf(y)], { claimId: "00000000-0000-4000-8000-000000000000", counted: false })
      assert.deepStrictEqual([stale!.outcome, stale!.step_state], ["superseded", "in_progress"])
      // its message still this claim's but the step claimed again: superseded, the message put back as it was
      yield* sql`UPDATE tasker_workflow_steps SET attempts = attempts + 1 WHERE workflow_step_uuid = ${rootOf(y).step_uuid!}`
      const [moved] = yield* submit([rootOf(y)], { counted: false })
      assert.strictEqual(moved!.outcome, "superseded")
      const [message] = yield* sql<{ claim_id: string }>`
        SELECT claim_id::text FROM tasker_queue_messages WHERE queue_name = ${queue} AND msg_id = ${rootOf(y).msg_id}`
      assert.strictEqual(message!.claim_id, rootOf(y).claim_id)
      yield* sql`UPDATE tasker_workflow_steps SET attempts = attempts - 1 WHERE workflow_step_uuid = ${rootOf(y).step_uuid!}`
      // the task cancelled meanwhile: discarded, the message archived
      yield* engine.cancelTask(y as TaskUuid, processorUuid, "test")
      const [ended] = yield* submit([rootOf(y)], { counted: false })
      assert.deepStrictEqual([ended!.outcome, ended!.step_state], ["discarded", "cancelled"])

      // an unknown step's result: discarded, its message dead-lettered
      const b = root!.claims.find((c) => c.step_name === "b")!
      const c = root!.claims.find((c) => c.step_name === "c")!
      const unknown = "00000000-0000-4000-8000-0000000000bb"
      const [lost] = yield* submit([{ ...b, step_uuid: unknown as StepUuid }], { counted: false })
      assert.deepStrictEqual([lost!.outcome, lost!.step_state, lost!.task_uuid], ["discarded", null, null])
      const archived = yield* sql<{ reason: string; dead_letter: boolean }>`
        SELECT reason, dead_letter FROM tasker_queue_archive WHERE queue_name = ${queue} ORDER BY archived_at, msg_id`
      assert.deepStrictEqual(archived.map((a) => [a.reason, a.dead_letter]), [
        ["result of a step already cancelled", false],
        [`unknown step ${unknown}`, true]
      ])

      // c completes alone: d keeps one unfinished parent, the task one active step less
      const [last] = yield* submit([c])
      assert.deepStrictEqual([last!.outcome, last!.enqueued_count, last!.claims.length], ["processed", 0, 0])
      assert.strictEqual((yield* steps(x)).d, "pending/1/0")
      assert.strictEqual(yield* task(x), "steps_in_process/1")
      assert.deepStrictEqual(yield* auditTransitions, [])
    }).pipe(Effect.provide(TestLayer)), 60_000)
})
