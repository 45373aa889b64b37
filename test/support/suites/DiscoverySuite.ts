/**
 * Task discovery (get_next_ready_tasks, get_task_ready_info), one suite run against each database
 * (test/db/Discovery.test.ts, test/embedded/SqlFunctions.test.ts): what is claimed, in which order, by whom, and
 * never twice.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import type { ProcessorUuid, TaskUuid } from "../../../src/domain/Ids.ts"
import { Processors } from "../../../src/db/Processors.ts"
import { DiscoveryFunctions } from "../../../src/db/SqlFunctions.ts"
import { createTask, forceStepState, forceTaskState, graphs } from "../Fixtures.ts"
import type { DatabaseUnderTest } from "../Databases.ts"

const registered = Effect.gen(function*() {
  const processorUuid = uuidv7() as ProcessorUuid
  yield* (yield* Processors).register({ processorUuid, role: "orchestrator" })
  return processorUuid
})

/** Moves every task out of the way so each test sees only its own tasks. */
const finishEverything = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ task_uuid: TaskUuid }>`SELECT task_uuid FROM tasker_tasks WHERE current_state <> 'complete'`
  for (const row of rows) yield* forceTaskState(row.task_uuid, "complete")
})

export const discoverySuite = (db: DatabaseUnderTest) => {
  layer(db.layer, { excludeTestServices: true })(`get_next_ready_tasks on ${db.name}`, (it) => {
    it.effect("claims a pending task into initializing for the caller, once", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const discovery = yield* DiscoveryFunctions
        const sql = yield* SqlClient.SqlClient
        const processorUuid = yield* registered
        const { taskUuid } = yield* createTask({ steps: graphs.linear, name: "linear_task", namespace: "maths" })
        const claimed = yield* discovery.nextReadyTasks({ limit: 5, processorUuid })
        assert.strictEqual(claimed.length, 1)
        assert.deepStrictEqual(
          [claimed[0]!.task_uuid, claimed[0]!.task_name, claimed[0]!.namespace_name, claimed[0]!.current_state, claimed[0]!.claimed_state],
          [taskUuid, "linear_task", "maths", "pending", "initializing"]
        )
        assert.strictEqual(claimed[0]!.ready_steps_count, 1)
        const [transition] = yield* sql<{ to_state: string; processor_uuid: string }>`
          SELECT to_state, processor_uuid FROM tasker_task_transitions WHERE task_uuid = ${taskUuid} ORDER BY sort_key DESC LIMIT 1`
        assert.deepStrictEqual([transition!.to_state, transition!.processor_uuid], ["initializing", processorUuid])
        assert.deepStrictEqual(yield* discovery.nextReadyTasks({ limit: 5, processorUuid }), [])
      }))

    it.effect("waiting tasks are claimed only when there is something to evaluate", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const discovery = yield* DiscoveryFunctions
        const processorUuid = yield* registered
        const ready = yield* createTask({ steps: graphs.linear })
        yield* forceTaskState(ready.taskUuid, "waiting_for_dependencies")
        const backingOff = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(backingOff.steps.step_1!, "waiting_for_retry", {
          attempts: 1,
          lastAttemptedAt: new Date(),
          backoffRequestSeconds: 600
        })
        yield* forceTaskState(backingOff.taskUuid, "waiting_for_retry")
        const retryDue = yield* createTask({ steps: graphs.linear })
        yield* forceStepState(retryDue.steps.step_1!, "waiting_for_retry", {
          attempts: 1,
          lastAttemptedAt: new Date(Date.now() - 60_000),
          backoffRequestSeconds: 5,
          at: new Date(Date.now() - 30_000)
        })
        yield* forceTaskState(retryDue.taskUuid, "waiting_for_retry")
        const allDone = yield* createTask({ steps: [{ name: "only" }] })
        yield* forceStepState(allDone.steps.only!, "complete")
        yield* forceTaskState(allDone.taskUuid, "waiting_for_dependencies")

        const claimed = yield* discovery.nextReadyTasks({ limit: 10, processorUuid })
        const byTask = Object.fromEntries(claimed.map((c) => [c.task_uuid, c]))
        assert.strictEqual(claimed.length, 3)
        assert.isUndefined(byTask[backingOff.taskUuid])
        assert.deepStrictEqual(
          [byTask[ready.taskUuid]!.claimed_state, byTask[ready.taskUuid]!.execution_status],
          ["evaluating_results", "has_ready_steps"]
        )
        assert.deepStrictEqual(
          [byTask[retryDue.taskUuid]!.current_state, byTask[retryDue.taskUuid]!.claimed_state],
          ["waiting_for_retry", "evaluating_results"]
        )
        assert.strictEqual(byTask[allDone.taskUuid]!.execution_status, "all_complete")
        // claimed once; the task backing off is still not due
        assert.deepStrictEqual(yield* discovery.nextReadyTasks({ limit: 10, processorUuid }), [])
      }))

    it.effect("higher computed priority first; age raises priority by 0.1 per hour", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const discovery = yield* DiscoveryFunctions
        const processorUuid = yield* registered
        const low = yield* createTask({ steps: graphs.linear, priority: 0 })
        const high = yield* createTask({ steps: graphs.linear, priority: 5 })
        const old = yield* createTask({ steps: graphs.linear, priority: 0, ageSeconds: 100 * 3600 })
        const claimed = yield* discovery.nextReadyTasks({ limit: 2, processorUuid })
        // old: 0 + 0.1 * 100 h = 10 > high: 5 > low: 0
        assert.deepStrictEqual(claimed.map((c) => c.task_uuid), [old.taskUuid, high.taskUuid])
        assert.closeTo(claimed[0]!.computed_priority, 10, 0.01)
        const rest = yield* discovery.nextReadyTasks({ limit: 2, processorUuid })
        assert.deepStrictEqual(rest.map((c) => c.task_uuid), [low.taskUuid])
      }))

    it.effect("terminal and in-process tasks are never returned; limit 0 returns nothing", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const discovery = yield* DiscoveryFunctions
        const processorUuid = yield* registered
        for (const state of ["steps_in_process", "blocked_by_failures", "error", "cancelled", "resolved_manually"] as const) {
          const { taskUuid } = yield* createTask({ steps: graphs.linear })
          yield* forceTaskState(taskUuid, state)
        }
        yield* createTask({ steps: graphs.linear })
        assert.deepStrictEqual(yield* discovery.nextReadyTasks({ limit: 0, processorUuid }), [])
        const claimed = yield* discovery.nextReadyTasks({ limit: 10, processorUuid })
        assert.deepStrictEqual(claimed.map((c) => c.current_state), ["pending"])
      }))

    it.effect("takes over tasks left in an owned state by a processor that is gone, not by a live one", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const sql = yield* SqlClient.SqlClient
        const discovery = yield* DiscoveryFunctions
        const me = yield* registered
        const live = yield* registered
        const dead = yield* registered
        yield* sql`UPDATE tasker_processors SET last_heartbeat_at = now() - interval '5 minutes' WHERE processor_uuid = ${dead}`
        const orphan = yield* createTask({ steps: graphs.linear })
        yield* forceTaskState(orphan.taskUuid, "evaluating_results", dead)
        const owned = yield* createTask({ steps: graphs.linear })
        yield* forceTaskState(owned.taskUuid, "enqueuing_steps", live)

        const claimed = yield* discovery.nextReadyTasks({ limit: 10, processorUuid: me })
        assert.deepStrictEqual(claimed.map((c) => [c.task_uuid, c.current_state, c.claimed_state]), [
          [orphan.taskUuid, "evaluating_results", "evaluating_results"]
        ])
        const [row] = yield* sql<{ processor_uuid: string; metadata: { event: string; previous_processor_uuid: string } }>`
          SELECT processor_uuid, metadata FROM tasker_task_transitions WHERE task_uuid = ${orphan.taskUuid} ORDER BY sort_key DESC LIMIT 1`
        assert.strictEqual(row!.processor_uuid, me)
        assert.deepStrictEqual(row!.metadata, { event: "TakeOver", previous_processor_uuid: dead })
      }))

    it.effect("concurrent callers never receive the same task", () =>
      Effect.gen(function*() {
        yield* finishEverything
        const discovery = yield* DiscoveryFunctions
        const callers = yield* Effect.all([registered, registered, registered, registered])
        const created = yield* Effect.forEach(Array.from({ length: 60 }), () => createTask({ steps: graphs.diamond }))
        const claims = yield* Effect.all(
          callers.map((processorUuid) =>
            Effect.gen(function*() {
              const mine: Array<string> = []
              for (let i = 0; i < 40; i++) {
                const batch = yield* discovery.nextReadyTasks({ limit: 3, processorUuid })
                mine.push(...batch.map((b) => b.task_uuid))
              }
              return mine
            })
          ),
          { concurrency: "unbounded" }
        )
        const all = claims.flat()
        assert.strictEqual(new Set(all).size, all.length, "a task was handed to two callers")
        assert.deepStrictEqual([...all].sort(), created.map((c) => c.taskUuid).sort())
        assert.isAbove(claims.filter((c) => c.length > 0).length, 1, "more than one caller got work")
      }))

    it.effect("get_task_ready_info reads one task without claiming it; unknown task: NotFound", () =>
      Effect.gen(function*() {
        const discovery = yield* DiscoveryFunctions
        const { taskUuid } = yield* createTask({ steps: graphs.tree })
        const info = yield* discovery.taskReadyInfo(taskUuid)
        assert.deepStrictEqual([info.current_state, info.claimed_state, info.ready_steps_count], ["pending", null, 1])
        const error = yield* Effect.flip(discovery.taskReadyInfo("01900000-0000-7000-8000-000000000000" as TaskUuid))
        assert.strictEqual(error._tag, "NotFound")
      }))
  })
}
