/**
 * Database restart: with tasks in flight on an orchestrator, two workers and an API process, every backend of the
 * test database is terminated (`pg_terminate_backend`, twice), as a PostgreSQL restart would drop them. The
 * processes must stay up, reconnect, LISTEN again and finish the run: every task complete, a clean audit.
 *
 * The processes poll only every 10 s and the workers hand results to the orchestrator (no inline processing), so
 * each step of a task needs two notifications (step message → worker, result → orchestrator): a task created
 * after the terminations completes within a few seconds only if every process listens again.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Running } from "../cli/Support.ts"
import {
  type Cluster,
  cluster,
  createTask,
  eventually,
  fullAudit,
  gated,
  stateCounts,
  stateOf,
  type TaskRequest
} from "./Support.ts"

/** Only a notification wakes a loop in time: the polling fallback comes every 10 s. */
const POLL_MS = 10_000
/**
 * A claim whose commit the restart cut off from its worker leaves its message invisible for the visibility
 * timeout: 10 s (default 30) keeps the run short.
 */
const ENV = {
  TASKER_POLL_INTERVAL_MS: String(POLL_MS),
  TASKER_INLINE_RESULT_PROCESSING: "false",
  TASKER_VISIBILITY_TIMEOUT_SECONDS: "10"
}
const EXAMPLES = ["--templates", "examples"]
const TASKS = 300
/** Tasks submitted while the backends are being terminated. */
const DURING = 100

const MATH: ReadonlyArray<Omit<TaskRequest, "context">> = [
  { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0" },
  { namespace: "rust_e2e_diamond", name: "diamond_pattern", version: "1.0.0" },
  { namespace: "rust_e2e_tree", name: "hierarchical_tree", version: "1.0.0" },
  { namespace: "rust_e2e_mixed_dag", name: "complex_dag", version: "1.0.0" }
]
const math = (i: number, key: string): TaskRequest => ({
  ...MATH[i % MATH.length]!,
  context: { even_number: 2 * (1 + (i % 50)) },
  idempotency_key: key
})

let c: Cluster
let processes: Array<Running> = []
let api = ""

/**
 * The test's own queries, retried: its pool's connections are terminated with the others, and a query on one of
 * them fails once before the pool replaces it.
 */
const query = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  c.sql(effect.pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "10 seconds" })))))

/** Terminates every other backend of the test database; their pids. */
const terminateAll = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // the targets first (MATERIALIZED): in one WHERE clause the planner may call pg_terminate_backend before the
  // pid <> pg_backend_pid() test, and terminate this very connection
  const rows = yield* sql<{ pid: number; terminated: boolean }>`
    WITH targets AS MATERIALIZED (
      SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid())
    SELECT pid, pg_terminate_backend(pid) AS terminated FROM targets`
  return rows.filter((r) => r.terminated).map((r) => r.pid)
})

/** The backends of the test database whose last statement was a LISTEN (one per listening process). */
const listeners = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
  return rows.map((r) => r.pid)
})

beforeAll(async () => {
  c = await cluster()
  const [o, w1, w2, a] = await Promise.all([
    c.orchestrator(ENV),
    c.worker(ENV, EXAMPLES),
    c.worker(ENV, EXAMPLES),
    c.api("api", ENV, EXAMPLES)
  ])
  processes = [o, w1, w2, a.process]
  api = a.url
}, 120_000)

afterAll(async () => {
  await c?.close()
}, 60_000)

/** Submits `requests` with at most 20 in flight; their uuids. */
const submitAll = async (requests: ReadonlyArray<TaskRequest>) => {
  const uuids: Array<string> = []
  let next = 0
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < requests.length) {
      const request = requests[next++]!
      uuids.push(await createTask(api, request))
    }
  }))
  return uuids
}

/**
 * `POST /v1/tasks` until it is answered 201 (created) or 200 (the task of this idempotency key exists: an earlier
 * attempt created it); the answers that were neither, by status.
 */
const submitUntilAccepted = async (request: TaskRequest, refused: Map<string, number>) => {
  const deadline = Date.now() + 60_000
  while (true) {
    let status: string
    try {
      const response = await fetch(`${api}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request)
      })
      const body = await response.text()
      if (response.status === 201 || response.status === 200) return (JSON.parse(body) as { task_uuid: string }).task_uuid
      status = String(response.status)
    } catch (e) {
      status = `fetch failed: ${String(e)}`
    }
    refused.set(status, (refused.get(status) ?? 0) + 1)
    if (Date.now() > deadline) throw new Error(`POST /v1/tasks refused until the deadline: ${JSON.stringify([...refused])}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Creates tasks and measures how long until all of them are complete. */
const timeToComplete = async (requests: ReadonlyArray<TaskRequest>, timeoutMs: number) => {
  const started = Date.now()
  const uuids = await submitAll(requests)
  await eventually(
    "the new tasks complete",
    async () => (await Promise.all(uuids.map((u) => query(stateOf(u))))).every((s) => s === "complete"),
    timeoutMs
  )
  return Date.now() - started
}

describe("database restart", () => {
  it("all backends terminated mid-run: processes reconnect, LISTEN again and finish every task", async () => {
    // the run works on notifications alone before the restart
    const before = await timeToComplete([math(0, "before-0"), math(1, "before-1")], POLL_MS)
    const listening = (await query(listeners)).length
    // the orchestrator and both workers at least
    expect(listening).toBeGreaterThanOrEqual(3)

    // in flight: a step whose handler runs through the restart, and a batch of tasks
    const hold = await createTask(api, gated(c.dir, "hold"))
    await eventually("the gated step runs", () => existsSync(join(c.dir, "hold.started.1")))
    const uuids = await submitAll(Array.from({ length: TASKS }, (_, i) => math(i, `run-${i}`)))
    const counts = await query(stateCounts)
    const inFlight = TASKS + 3 - (counts["complete"] ?? 0)
    expect(inFlight).toBeGreaterThan(10)

    // clients keep submitting through the restart (retrying with the same idempotency key until accepted)
    const refused = new Map<string, number>()
    let submitting = true
    const during = (async () => {
      const accepted: Array<string> = []
      for (let i = 0; i < DURING && submitting; i++) {
        accepted.push(await submitUntilAccepted(math(i, `during-${i}`), refused))
      }
      return accepted
    })()

    // the restart, twice: the second hits processes that have just reconnected
    for (let round = 1; round <= 2; round++) {
      const terminated = new Set(await query(terminateAll))
      expect(terminated.size).toBeGreaterThanOrEqual(listening)
      // a terminated backend may still show for a moment: count the new connections only
      await eventually(
        `all processes LISTEN again (round ${round})`,
        async () => (await query(listeners)).filter((pid) => !terminated.has(pid)).length >= listening,
        30_000
      )
    }
    for (const p of [processes[0]!, processes[1]!, processes[2]!]) {
      expect(p.stderr()).toContain("notification listener lost its connection; reconnecting")
    }

    submitting = false
    const duringUuids = await during
    expect(duringUuids.length).toBeGreaterThan(0)

    // the step that ran through the restart finishes
    c.release("hold")
    await eventually(
      "every task complete",
      async () => (await query(stateCounts))["complete"] === TASKS + 3 + duringUuids.length,
      90_000
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await query(stateCounts))}`)
    })
    expect(await query(stateOf(hold))).toBe("complete")
    expect(new Set([...uuids, ...duringUuids]).size).toBe(TASKS + duringUuids.length)
    // a request that met the restart is refused as retryable (503 SERVICE_UNAVAILABLE), never as a server bug
    expect([...refused.keys()].filter((status) => /^5/.test(status) && status !== "503")).toEqual([])

    // now idle, every loop waits for a notification or its 10 s poll: new tasks complete this fast only if every
    // process listens again
    const after = await timeToComplete([0, 1, 2, 3].map((i) => math(i, `after-${i}`)), 3 * POLL_MS)
    expect(after, `new tasks took ${after} ms after the restart (${before} ms before)`).toBeLessThan(POLL_MS / 2)

    for (const p of processes) expect(p.child.exitCode, p.stderr().slice(-3000)).toBeNull()
    expect(await query(fullAudit)).toEqual([])
    console.log(
      `database restart: ${inFlight} tasks in flight at the first termination; ${duringUuids.length} submitted ` +
        `during the restart (refused answers: ${JSON.stringify([...refused])}); new tasks complete in ${before} ms ` +
        `before and ${after} ms after the restart`
    )
  })
})
