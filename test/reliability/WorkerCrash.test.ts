/**
 * Worker crash: two worker processes host the gated fixture; the one that starts the `wait` step is SIGKILLed
 * while the handler runs. Its message stops being kept invisible, so after the visibility timeout (2 s here) the
 * other worker reclaims the step (`Reclaim`, a second attempt) and, once the gate opens, completes it. The task
 * completes, the step shows 2 attempts and exactly one `complete` transition, and the audit finds nothing.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type Cluster,
  cluster,
  createTask,
  eventually,
  fullAudit,
  gated,
  processorOf,
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

/** a short visibility timeout: a lost worker's message is visible again within 2 s */
const ENV = { TASKER_VISIBILITY_TIMEOUT_SECONDS: "2" }

describe("worker crash", () => {
  it("a SIGKILLed worker's step is reclaimed by another worker after the visibility timeout and succeeds once", async () => {
    const [api, , first, second] = await Promise.all([
      c.api("api"),
      c.orchestrator(ENV),
      c.worker(ENV),
      c.worker(ENV)
    ])
    const workers = new Map([[first.child.pid!, first], [second.child.pid!, second]])

    const taskUuid = await createTask(api.url, gated(c.dir, "crash"))
    const started = (attempt: number) => join(c.dir, `crash.started.${attempt}`)
    await eventually("attempt 1 of `wait` started", () => existsSync(started(1)), 30_000)
    const victimPid = Number(readFileSync(started(1), "utf8"))
    const victim = workers.get(victimPid)
    expect(victim, `attempt 1 ran in pid ${victimPid}, not in one of the workers`).toBeDefined()
    const survivor = victim === first ? second : first
    const victimProcessor = await c.sql(processorOf(victimPid))
    const survivorProcessor = await c.sql(processorOf(survivor.child.pid!))

    const killed = await victim!.stop("SIGKILL")
    expect(killed.signal).toBe("SIGKILL")
    const killedAt = Date.now()

    // the survivor reclaims the step once the dead worker's message is visible again
    await eventually("attempt 2 of `wait` started", () => existsSync(started(2)), 30_000)
    expect(Number(readFileSync(started(2), "utf8"))).toBe(survivor.child.pid)
    // not before the visibility timeout the dead worker last extended (extensions every 1 s, timeout 2 s)
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(900)

    c.release("crash")
    await eventually("task complete", async () => (await c.sql(stateOf(taskUuid))) === "complete", 30_000)

    const steps = await c.sql(stepsOf(taskUuid))
    const wait = steps.find((s) => s.name === "wait")!
    expect(wait).toMatchObject({ current_state: "complete", attempts: 2, completions: 1 })
    // Start by the victim, Reclaim by the survivor, which also recorded the one result
    expect(wait.events).toEqual(["Enqueue", "Start", "Reclaim", "Complete"])
    expect(wait.processors[1]).toBe(victimProcessor)
    expect(wait.processors[2]).toBe(survivorProcessor)
    expect(wait.processors[3]).toBe(survivorProcessor)
    // the dependent step saw the second attempt's result
    const after = steps.find((s) => s.name === "after")!
    expect(after).toMatchObject({ current_state: "complete", attempts: 1, completions: 1 })
    const afterResult = await c.sql(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ result: unknown }>`
        SELECT results -> 'result' AS result FROM tasker_workflow_steps WHERE workflow_step_uuid = ${after.step_uuid}`
      return rows[0]!.result
    }))
    expect(afterResult).toEqual({ waited_attempt: 2 })
    expect(existsSync(started(3))).toBe(false)

    expect(await c.sql(fullAudit)).toEqual([])
  }, 120_000)
})
