/**
 * Poison messages: messages of the wrong shape (no `step_uuid`, not an object, a `step_uuid` that is not a UUID)
 * and messages for a step that does not exist are sent (`tasker_send`) to a worker queue and to the results queue
 * of a running cluster. Each ends in its queue's dead-letter archive at its first read, with the reason; the worker
 * and the orchestrator stay up, and a normal task submitted afterwards completes through both queues (the worker
 * hands its results to the orchestrator: `TASKER_INLINE_RESULT_PROCESSING=false`).
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RESULTS_QUEUE, workerQueueName } from "../../src/messaging/Channels.ts"
import {
  type Cluster,
  cluster,
  createTask,
  deadLetters,
  eventually,
  fullAudit,
  gated,
  queueDepth,
  stateOf,
  stepsOf
} from "./Support.ts"

let c: Cluster

beforeAll(async () => {
  c = await cluster()
})

afterAll(async () => {
  await c?.close()
})

const WORKER_QUEUE = workerQueueName("reliability")

/** A message and the reason it must be dead-lettered with. */
interface Poison {
  readonly message: unknown
  readonly headers?: unknown
  readonly reason: string
}

const poisons = (): ReadonlyArray<Poison> => {
  const unknownStep = randomUUID()
  const malformed = "malformed message: no step_uuid"
  return [
    { message: { hello: "world" }, reason: malformed },
    { message: [1, 2, 3], reason: malformed },
    { message: "just a string", reason: malformed },
    { message: null, reason: malformed },
    { message: { task_uuid: randomUUID(), step_uuid: "not-a-uuid", correlation_id: randomUUID() }, reason: malformed },
    { message: { step_uuid: 12345 }, headers: { traceparent: "garbage" }, reason: malformed },
    {
      message: { task_uuid: randomUUID(), step_uuid: unknownStep, correlation_id: randomUUID() },
      headers: ["not", "an", "object"],
      reason: `unknown step ${unknownStep}`
    }
  ]
}

/** `tasker_send`s each message; returns the msg_id → expected reason. */
const send = (queue: string, messages: ReadonlyArray<Poison>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const expected = new Map<string, string>()
    for (const p of messages) {
      const rows = yield* sql<{ msg_id: string }>`
        SELECT tasker_send(${queue}, ${JSON.stringify(p.message)}::jsonb, ${JSON.stringify(p.headers ?? {})}::jsonb)::text
          AS msg_id`
      expected.set(rows[0]!.msg_id, p.reason)
    }
    return expected
  })

const readCounts = (queue: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ msg_id: string; read_ct: number }>`
      SELECT msg_id::text, read_ct FROM tasker_queue_archive WHERE queue_name = ${queue} AND dead_letter`
  })

describe("poison messages", () => {
  it("malformed messages and messages for unknown steps are dead-lettered with a reason, and both queues keep flowing", async () => {
    const [api, orchestrator, worker] = await Promise.all([
      c.api("api"),
      c.orchestrator(),
      c.worker({ TASKER_INLINE_RESULT_PROCESSING: "false" })
    ])

    const expectedWorker = await c.sql(send(WORKER_QUEUE, poisons()))
    const expectedResults = await c.sql(send(RESULTS_QUEUE, poisons()))

    await eventually("every poison message dead-lettered", async () =>
      (await c.sql(deadLetters(WORKER_QUEUE))).length === expectedWorker.size &&
      (await c.sql(deadLetters(RESULTS_QUEUE))).length === expectedResults.size, 30_000)
    for (const [queue, expected] of [[WORKER_QUEUE, expectedWorker], [RESULTS_QUEUE, expectedResults]] as const) {
      const letters = await c.sql(deadLetters(queue))
      expect(new Map(letters.map((l) => [l.msg_id, l.reason]))).toEqual(expected)
      // at the first read: a poison message does not come back
      expect((await c.sql(readCounts(queue))).map((r) => r.read_ct)).toEqual(letters.map(() => 1))
      expect(await c.sql(queueDepth(queue))).toBe(0)
    }
    // the consumers said so, and are still up
    expect(worker.stderr()).toContain("Step message dead_lettered")
    expect(orchestrator.stderr()).toContain("Step result moved to the dead-letter archive")
    expect(worker.child.exitCode).toBeNull()
    expect(orchestrator.child.exitCode).toBeNull()

    // a normal task afterwards: its step messages go through the worker queue, its results through the results queue
    c.release("after-poison")
    const taskUuid = await createTask(api.url, gated(c.dir, "after-poison"))
    await eventually("task complete", async () => (await c.sql(stateOf(taskUuid))) === "complete", 30_000)
    for (const step of await c.sql(stepsOf(taskUuid))) {
      expect(step).toMatchObject({ current_state: "complete", attempts: 1, completions: 1 })
      // applied by the orchestrator from the results queue, not inline
      expect(step.events).toEqual(["Enqueue", "Start", "EnqueueForOrchestration", "Complete"])
    }
    // nothing else was dead-lettered, nothing is left in the queues
    expect((await c.sql(deadLetters(WORKER_QUEUE))).length).toBe(expectedWorker.size)
    expect((await c.sql(deadLetters(RESULTS_QUEUE))).length).toBe(expectedResults.size)
    expect(await c.sql(queueDepth(WORKER_QUEUE))).toBe(0)
    expect(await c.sql(queueDepth(RESULTS_QUEUE))).toBe(0)
    expect(await c.sql(fullAudit)).toEqual([])
  }, 120_000)
})
