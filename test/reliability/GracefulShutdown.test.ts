/**
 * Graceful shutdown: SIGTERM to a worker process with a step in flight. The worker stops reading its queue at once,
 * gives the running step `TASKER_SHUTDOWN_GRACE_MS` to finish, gives it back (`Release`, no attempt used) if it
 * does not, and exits 0.
 *
 * - within the grace: the gate opens during the grace period; the step completes on the stopping worker, which
 *   claims nothing more (neither the next step of the same task nor a new task's step) and exits without waiting
 *   out the rest of the grace;
 * - beyond the grace: the handler is still blocked when the grace period ends; the worker gives the step back and
 *   exits 0 soon after the grace period; the other worker runs the step (still attempt 1) and the task completes.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { describe, expect, it } from "vitest"
import {
  type Cluster,
  cluster,
  createTask,
  eventually,
  fullAudit,
  gated,
  processorOf,
  stateOf,
  stepsOf,
  waitForLog
} from "./Support.ts"

const withCluster = async (body: (c: Cluster) => Promise<void>) => {
  const c = await cluster()
  try {
    await body(c)
  } finally {
    await c.close()
  }
}

const stepOf = async (c: Cluster, taskUuid: string, name: string) =>
  (await c.sql(stepsOf(taskUuid))).find((s) => s.name === name)!

const stoppedAt = (processorUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ stopped_at: Date | null }>`
      SELECT stopped_at FROM tasker_processors WHERE processor_uuid = ${processorUuid}`
    return rows[0]?.stopped_at ?? null
  })

const SHUTDOWN_LOG = "worker shutting down: stopped reading"
const GRACE_OVER_LOG = "worker shutdown grace period over"

describe("graceful shutdown of a worker (SIGTERM)", () => {
  it("a step that finishes within the grace period completes on the stopping worker, which claims nothing new and exits 0", async () => {
    await withCluster(async (c) => {
      const GRACE_MS = 30_000
      const [api] = await Promise.all([c.api("api"), c.orchestrator()])
      const worker = await c.worker({ TASKER_SHUTDOWN_GRACE_MS: String(GRACE_MS) })
      const processor = (await c.sql(processorOf(worker.child.pid!)))!

      const first = await createTask(api.url, gated(c.dir, "first"))
      await eventually("the first task's step started", () => existsSync(join(c.dir, "first.started.1")), 30_000)

      const exited = worker.stop("SIGTERM")
      const line = await waitForLog(worker, SHUTDOWN_LOG, 30_000)
      expect(line).toContain(`waiting up to ${GRACE_MS} ms for 1 running step(s)`)

      // a task submitted while the worker is stopping: its step (already allowed to run) must not be claimed
      c.release("second")
      const second = await createTask(api.url, gated(c.dir, "second"))
      // give the stopping worker its chance to claim it (the NOTIFY, and several 200 ms poll intervals) before
      // the first step finishes; a worker still reading would claim it now
      const submitted = Date.now()
      await eventually("1 s since the second task was submitted", () => Date.now() - submitted >= 1000)
      expect(worker.child.exitCode).toBeNull()
      expect(await c.sql(stateOf(first))).toBe("steps_in_process")

      c.release("first")
      const released = Date.now()
      const finished = await exited
      expect(finished.signal).toBeNull()
      expect(finished.code, finished.stderr).toBe(0)
      // it exits once its step is done, not at the end of the grace period
      expect(Date.now() - released).toBeLessThan(GRACE_MS / 2)
      expect(finished.stderr).not.toContain(GRACE_OVER_LOG)
      expect(await c.sql(stoppedAt(processor))).not.toBeNull()

      // the running step completed on the stopping worker, in its first attempt
      const wait = await stepOf(c, first, "wait")
      expect(wait).toMatchObject({ current_state: "complete", attempts: 1, completions: 1 })
      // the worker applied its own result: straight from in_progress to complete
      expect(wait.events).toEqual(["Enqueue", "Start", "Complete"])
      expect(wait.processors.slice(1)).toEqual([processor, processor])
      // it read nothing after SIGTERM: the next step of the same task and the new task's step are still queued
      expect(await stepOf(c, first, "after")).toMatchObject({ current_state: "enqueued", events: ["Enqueue"] })
      expect(await stepOf(c, second, "wait")).toMatchObject({ current_state: "enqueued", events: ["Enqueue"] })

      // another worker finishes both tasks
      await c.worker()
      await eventually("both tasks complete", async () =>
        (await c.sql(stateOf(first))) === "complete" && (await c.sql(stateOf(second))) === "complete", 30_000)
      expect(await c.sql(fullAudit)).toEqual([])
    })
  }, 150_000)

  it("a step still running when the grace period ends is given back without using an attempt; the worker exits 0", async () => {
    await withCluster(async (c) => {
      const GRACE_MS = 2_000
      const env = { TASKER_SHUTDOWN_GRACE_MS: String(GRACE_MS) }
      const [api, , one, two] = await Promise.all([c.api("api"), c.orchestrator(), c.worker(env), c.worker(env)])
      const workers = new Map([[one.child.pid!, one], [two.child.pid!, two]])

      const taskUuid = await createTask(api.url, gated(c.dir, "slow"))
      const started = join(c.dir, "slow.started.1")
      await eventually("the step started", () => existsSync(started), 30_000)
      const stopping = workers.get(Number(readFileSync(started, "utf8")))!
      expect(stopping).toBeDefined()
      const survivor = stopping === one ? two : one
      const stoppingProcessor = await c.sql(processorOf(stopping.child.pid!))
      const survivorProcessor = await c.sql(processorOf(survivor.child.pid!))

      const signalled = Date.now()
      const finished = await stopping.stop("SIGTERM")
      const elapsed = Date.now() - signalled
      expect(finished.signal).toBeNull()
      expect(finished.code, finished.stderr).toBe(0)
      expect(finished.stderr).toContain(`waiting up to ${GRACE_MS} ms for 1 running step(s)`)
      expect(finished.stderr).toContain(`${GRACE_OVER_LOG}: giving 1 running step(s) back`)
      // it waited out the grace period, and not much longer
      expect(elapsed).toBeGreaterThanOrEqual(GRACE_MS)
      expect(elapsed).toBeLessThan(GRACE_MS + 10_000)

      // given back at once: the other worker runs the same attempt (the gate is still closed)
      await eventually("the other worker runs the step", () =>
        readFileSync(started, "utf8") === String(survivor.child.pid), 30_000)
      expect(existsSync(join(c.dir, "slow.started.2"))).toBe(false)
      c.release("slow")
      await eventually("task complete", async () => (await c.sql(stateOf(taskUuid))) === "complete", 30_000)

      const wait = await stepOf(c, taskUuid, "wait")
      expect(wait).toMatchObject({ current_state: "complete", attempts: 1, completions: 1 })
      expect(wait.events).toEqual(["Enqueue", "Start", "Release", "Start", "Complete"])
      expect(wait.processors.slice(1, 5)).toEqual([stoppingProcessor, stoppingProcessor, survivorProcessor, survivorProcessor])
      expect(await c.sql(fullAudit)).toEqual([])
    })
  }, 150_000)
})
