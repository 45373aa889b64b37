/**
 * Where one task's time goes: runs tasks one at a time on an idle engine (orchestrator + worker in this process,
 * PostgreSQL, default settings) and prints, as medians over the tasks, when each transaction of the task started
 * relative to the `createTask` call (`created_at` of every task and step transition is its transaction's start),
 * then the server-side time per call of the engine's SQL functions (`pg_stat_user_functions`, with
 * `track_functions = pl` set on the benchmark database).
 *
 *   node bench/timeline.ts [--workflow linear4|diamond4] [--tasks 60] [--burst 1000] [--worker-concurrency 32]
 *
 * With `--burst N`, N more tasks are then submitted at once (the throughput case's load: results and creations go in
 * batches) and the functions' server time is printed again for those alone, per step, with the workflows per
 * second, the transactions per step (`pg_stat_database`: the waiters' reads included) and the engine process's CPU
 * per step. `--worker-concurrency` sets the worker's slots (default: the engine's default).
 *
 * Reading it: the gap from the first step's `Enqueue` to its `Start` is the wake-up and the claim; a handed-off
 * step's `Start` shares its parent's `Complete` stamp (one transaction), so the gap from one `Complete` to the next
 * is the submission's statement, the handler and the worker's own work. The first 10 tasks warm up and are not
 * counted. Figures on the development machine: docs/benchmarking.md.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TaskInitializer } from "../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../src/tasks/TaskQueries.ts"
import { startBenchEngine } from "./support/BenchEngine.ts"
import { burst } from "./support/EndToEnd.ts"
import { flagValue } from "./support/Harness.ts"
import { benchTemplates } from "./support/workflows.ts"

const argv = process.argv.slice(2)
const workflow = flagValue(argv, "--workflow") ?? "linear4"
const tasks = Number(flagValue(argv, "--tasks") ?? 60)
const burstSize = Number(flagValue(argv, "--burst") ?? 0)
const workerConcurrency = flagValue(argv, "--worker-concurrency")
const WARMUP = 10

const engine = await startBenchEngine({
  templates: benchTemplates,
  maxConnections: 10,
  databaseSettings: { track_functions: "pl" },
  ...(workerConcurrency === undefined ? {} : { settings: { workerConcurrency: Number(workerConcurrency) } })
})

type Marks = Record<string, number>

const oneTask = Effect.gen(function*() {
  const initializer = yield* TaskInitializer
  const queries = yield* TaskQueries
  const sql = yield* SqlClient.SqlClient
  // (the database stamps are wall-clock microseconds: Date.now() would truncate the start to the millisecond)
  const started = performance.now()
  const wallStart = performance.timeOrigin + started
  const created = yield* initializer.createTask({ namespace: "bench", name: workflow, version: "1.0.0", context: {} })
  const createReturned = performance.now()
  yield* queries.waitForCompletion(created.task_uuid, { timeout: "1 minute" })
  const completed = performance.now()
  const steps = yield* sql<{ step: string; event: string; at: number }>`
    SELECT ns.name AS step, st.metadata ->> 'event' AS event, extract(epoch FROM st.created_at) * 1000 AS at
    FROM tasker_workflow_step_transitions st
    JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = st.workflow_step_uuid
    JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
    WHERE ws.task_uuid = ${created.task_uuid} AND st.from_state IS NOT NULL`
  const task = yield* sql<{ to_state: string; at: number }>`
    SELECT to_state, extract(epoch FROM created_at) * 1000 AS at FROM tasker_task_transitions
    WHERE task_uuid = ${created.task_uuid}`
  const marks: Marks = {
    "createTask returned": createReturned - started,
    "waitForCompletion returned": completed - started
  }
  for (const s of steps) marks[`step ${s.step}: ${s.event}`] = Number(s.at) - wallStart
  for (const t of task) marks[`task → ${t.to_state}`] = Number(t.at) - wallStart
  return marks
})

const samples: Array<Marks> = []
for (let i = 0; i < tasks + WARMUP; i++) {
  const marks = await engine.runtime.runPromise(oneTask as Effect.Effect<Marks, unknown, never>)
  if (i >= WARMUP) samples.push(marks)
}
const median = (key: string) => {
  const values = samples.map((m) => m[key]).filter((v): v is number => v !== undefined).sort((a, b) => a - b)
  return values[Math.floor(values.length / 2)]!
}
console.log(`${workflow}, ${tasks} tasks one at a time: ms after createTask was called (median)`)
for (const key of Object.keys(samples[0]!).sort((a, b) => median(a) - median(b))) {
  console.log(`  ${median(key).toFixed(2).padStart(7)}  ${key}`)
}

type FunctionStat = { funcname: string; calls: number; total: number; self: number }
const functionStats = () =>
  engine.runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT pg_stat_force_next_flush()`.pipe(Effect.ignore)
    return yield* sql<FunctionStat>`
      SELECT funcname, calls::int, total_time AS total, self_time AS self FROM pg_stat_user_functions
      WHERE calls > 0 ORDER BY total_time DESC LIMIT 15`
  }) as Effect.Effect<ReadonlyArray<FunctionStat>, unknown, never>)
const printStats = (functions: ReadonlyArray<FunctionStat>, per: number, unit: string) => {
  console.log(`  ${"function".padEnd(34)} ${"calls".padStart(6)} ${`per ${unit}`.padStart(9)} ${"ms/call".padStart(8)} ${"self".padStart(7)} ${`ms/${unit}`.padStart(8)}`)
  for (const f of functions) {
    console.log(
      `  ${f.funcname.padEnd(34)} ${String(f.calls).padStart(6)} ${(f.calls / per).toFixed(1).padStart(9)} ` +
        `${(f.total / f.calls).toFixed(3).padStart(8)} ${(f.self / f.calls).toFixed(3).padStart(7)} ${(f.total / per).toFixed(3).padStart(8)}`
    )
  }
}

console.log(`\nSQL functions, server side (all ${tasks + WARMUP} tasks; statistics may lag by a few calls)`)
printStats(await functionStats(), tasks + WARMUP, "task")

if (burstSize > 0) {
  await engine.runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT pg_stat_reset()`
  }) as Effect.Effect<void, unknown, never>)
  const transactions = () =>
    engine.runtime.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT pg_stat_force_next_flush()`
      const [row] = yield* sql<{ n: number }>`
        SELECT (xact_commit + xact_rollback)::int AS n FROM pg_stat_database WHERE datname = current_database()`
      return row!.n
    }) as Effect.Effect<number, unknown, never>)
  const transactionsBefore = await transactions()
  const cpuBefore = process.cpuUsage()
  const { seconds } = await burst(engine, workflow, burstSize)
  const cpu = process.cpuUsage(cpuBefore)
  // (less the two statistics queries of this count)
  const transactionCount = (await transactions()) - transactionsBefore - 2
  const steps = burstSize * 4
  console.log(
    `\n${burstSize} ${workflow} submitted at once: ${(burstSize / seconds).toFixed(0)} workflows/s, ` +
      `${(transactionCount / steps).toFixed(2)} transactions per step, engine CPU ` +
      `${((cpu.user + cpu.system) / 1000 / steps).toFixed(3)} ms per step; SQL functions, server side, per step`
  )
  printStats(await functionStats(), steps, "step")
}
await engine.dispose()
