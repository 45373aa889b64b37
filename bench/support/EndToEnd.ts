/**
 * What the end-to-end benchmarks share: one workflow submitted and waited for (completion observed by the task's
 * own notification), and the settle step that brings an engine's database to a steady state before it is measured.
 */
import { Effect } from "effect"
import { vacuumEngineTables } from "../../src/db/Maintenance.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import type { startBenchEngine } from "./BenchEngine.ts"

export type BenchEngine = Awaited<ReturnType<typeof startBenchEngine>>

export const TIMED = "TaskInitializer.createTask called → waitForCompletion returned the complete task (notification-driven)"

/** Creates a task of the `bench` workflow `name` and waits for it to complete; the elapsed milliseconds. */
export const submitAndWait = (name: string) =>
  Effect.gen(function*() {
    const tasks = yield* TaskInitializer
    const queries = yield* TaskQueries
    const started = performance.now()
    const created = yield* tasks.createTask({ namespace: "bench", name, version: "1.0.0", context: {} })
    const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "5 minutes" })
    const elapsed = performance.now() - started
    if (done.status !== "complete") return yield* Effect.die(new Error(`task ${created.task_uuid} ended ${done.status}`))
    return elapsed
  })

/** One sample: a workflow of `name` end to end on `engine` (ms). */
export const once = (engine: BenchEngine, name: string) => () =>
  engine.runtime.runPromise(submitAndWait(name) as Effect.Effect<number, unknown, never>)

/** `count` workflows of `name` submitted at once: the wall time (s) and each one's submit → completion (ms). */
export const burst = async (engine: BenchEngine, name: string, count: number) => {
  const started = performance.now()
  const latenciesMs = await engine.runtime.runPromise(
    Effect.forEach(Array.from({ length: count }), () => submitAndWait(name), { concurrency: "unbounded" }) as Effect.Effect<
      Array<number>,
      unknown,
      never
    >
  )
  return { seconds: (performance.now() - started) / 1000, latenciesMs }
}

export const vacuum = (engine: BenchEngine) =>
  engine.runtime.runPromise(vacuumEngineTables as Effect.Effect<void, unknown, never>)

/**
 * Brings an engine's database to a steady state before it is sampled: `count` untimed tasks of each workflow,
 * then `VACUUM (ANALYZE)`. Statistics taken on empty tables make the engine's cached generic plans poor as the
 * tables fill (measured: linear-4 p50 from 14 to 19 ms over 600 tasks, back to 11–12 ms after ANALYZE); in
 * production autovacuum analyzes the engine's tables within its first minute, so the benchmark measures that state.
 */
export const settle = async (engine: BenchEngine, workflows: ReadonlyArray<string>, count: number) => {
  for (let i = 0; i < count; i++) for (const name of workflows) await once(engine, name)()
  await vacuum(engine)
}
