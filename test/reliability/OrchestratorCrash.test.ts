/**
 * Orchestrator crash: an orchestrator is SIGKILLed while it owns a task, after it processed a step result and
 * before it finalized the task; another orchestrator takes the task over once the dead one's heartbeat is stale,
 * and finishes it.
 *
 * The task is `test_errors/retryable_error_success` (one step that fails retryably on attempt 1 and succeeds on
 * attempt 2). The worker hands its results to the orchestrators (`TASKER_INLINE_RESULT_PROCESSING=false`), so:
 *
 * 1. orchestrator A's results loop applies the failed attempt: step `waiting_for_retry`, task `waiting_for_retry`;
 * 2. when the retry is due, A's readiness loop claims the task (`RetryReady → evaluating_results`, owned by A) and,
 *    with the test-only fault hook `TASKER_FAULT_PAUSE_AFTER_READY_CLAIM_MS`, pauses before evaluating it;
 * 3. A is SIGKILLed there. Orchestrator B, running meanwhile, leaves the task alone while A heartbeats, then takes
 *    it over (`TakeOver`) once A's heartbeat is older than `TASKER_STALE_AFTER_SECONDS` (2 s here), enqueues the
 *    retry, applies attempt 2's result and completes the task.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FAULT_PAUSE_AFTER_READY_CLAIM } from "../../src/orchestration/OrchestrationLoop.ts"
import {
  type Cluster,
  cluster,
  createTask,
  eventually,
  fullAudit,
  processorOf,
  stateOf,
  stepsOf,
  waitForLog
} from "./Support.ts"

let c: Cluster

beforeAll(async () => {
  c = await cluster()
})

afterAll(async () => {
  await c?.close()
})

const STALE_AFTER_SECONDS = 2
/** every process: the same stale threshold (heartbeats every 500 ms, from the harness) */
const ENV = { TASKER_STALE_AFTER_SECONDS: String(STALE_AFTER_SECONDS) }
const EXAMPLES = ["--templates", "examples"]

interface TaskTransition {
  readonly sort_key: number
  readonly from_state: string | null
  readonly to_state: string
  readonly event: string
  readonly processor_uuid: string | null
  readonly previous_processor_uuid: string | null
  readonly created_at: Date
}

const taskTransitions = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<TaskTransition>`
      SELECT sort_key, from_state, to_state, metadata ->> 'event' AS event, processor_uuid::text,
             metadata ->> 'previous_processor_uuid' AS previous_processor_uuid, created_at
      FROM tasker_task_transitions WHERE task_uuid = ${taskUuid} ORDER BY sort_key`
  })

const processorRow = (processorUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ stopped_at: Date | null; last_heartbeat_at: Date }>`
      SELECT stopped_at, last_heartbeat_at FROM tasker_processors WHERE processor_uuid = ${processorUuid}`
    return rows[0]!
  })

describe("orchestrator crash", () => {
  it("a task owned by a SIGKILLed orchestrator between a processed result and its finalization is taken over and completed by another", async () => {
    const [api, a] = await Promise.all([
      c.api("api", ENV, EXAMPLES),
      c.orchestrator({ ...ENV, [FAULT_PAUSE_AFTER_READY_CLAIM]: "600000" }),
      c.worker({ ...ENV, TASKER_INLINE_RESULT_PROCESSING: "false" }, EXAMPLES)
    ])
    const aProcessor = (await c.sql(processorOf(a.child.pid!)))!

    const taskUuid = await createTask(api.url, {
      namespace: "test_errors",
      name: "retryable_error_success",
      version: "1.0.0",
      context: {}
    })

    // A applied the failed attempt, then claimed the task for the retry and paused while owning it
    const line = await waitForLog(a, "fault injection: pausing after claiming tasks", 60_000)
    expect(line).toContain(taskUuid)
    const claimed = (await c.sql(taskTransitions(taskUuid))).at(-1)!
    expect(claimed).toMatchObject({ to_state: "evaluating_results", event: "RetryReady", processor_uuid: aProcessor })

    // B starts while A (paused, but heartbeating) still owns the task
    const b = await c.orchestrator(ENV)
    const bProcessor = (await c.sql(processorOf(b.child.pid!)))!
    expect(bProcessor).not.toBe(aProcessor)
    // two heartbeats of A while B runs its readiness loop (every 200 ms): a live owner's task is left alone
    const since = (await c.sql(processorRow(aProcessor))).last_heartbeat_at.getTime()
    await eventually("two more heartbeats of A", async () =>
      (await c.sql(processorRow(aProcessor))).last_heartbeat_at.getTime() >= since + 1000, 30_000)
    expect((await c.sql(taskTransitions(taskUuid))).at(-1)).toEqual(claimed)

    const killed = await a.stop("SIGKILL")
    expect(killed.signal).toBe("SIGKILL")
    const killedAt = Date.now()

    await eventually("task complete", async () => (await c.sql(stateOf(taskUuid))) === "complete", 60_000)

    const transitions = await c.sql(taskTransitions(taskUuid))
    const takeOver = transitions.findIndex((t) => t.event === "TakeOver")
    // right after A's claim
    expect(transitions[takeOver - 1]?.sort_key, JSON.stringify(transitions, null, 1)).toBe(claimed.sort_key)
    const t = transitions[takeOver]!
    expect(t).toMatchObject({
      from_state: "evaluating_results",
      to_state: "evaluating_results",
      processor_uuid: bProcessor,
      previous_processor_uuid: aProcessor
    })
    // only once A's heartbeat had gone stale (A heartbeated until it was killed)
    const aRow = await c.sql(processorRow(aProcessor))
    expect(aRow.stopped_at).toBeNull()
    expect(t.created_at.getTime() - aRow.last_heartbeat_at.getTime()).toBeGreaterThanOrEqual(STALE_AFTER_SECONDS * 1000)
    expect(t.created_at.getTime()).toBeGreaterThan(killedAt - 1000)
    // B finished the task: everything after the takeover is B's
    expect(transitions.slice(takeOver).every((r) => r.processor_uuid === bProcessor)).toBe(true)
    expect(transitions.at(-1)).toMatchObject({ to_state: "complete", processor_uuid: bProcessor })

    // the step: attempt 1's failure applied by A, the retry enqueued and attempt 2's success applied by B
    const [step] = await c.sql(stepsOf(taskUuid))
    expect(step).toMatchObject({ current_state: "complete", attempts: 2, completions: 1 })
    expect(step!.events).toEqual([
      "Enqueue",
      "Start",
      "EnqueueAsErrorForOrchestration",
      "WaitForRetry",
      "Retry",
      "Enqueue",
      "Start",
      "EnqueueForOrchestration",
      "Complete"
    ])
    expect(step!.processors[3]).toBe(aProcessor)
    expect([step!.processors[4], step!.processors[5], step!.processors[8]]).toEqual([bProcessor, bProcessor, bProcessor])

    expect(await c.sql(fullAudit)).toEqual([])
  }, 150_000)
})
