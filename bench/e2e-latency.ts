/**
 * End-to-end latency and throughput: submit a task in-process and wait for its completion, observed by the
 * task's own notification (no fixed-interval polling).
 *
 *   npm run bench:e2e            # linear-4 and diamond-4 latency, then 1 000 linear-4 submitted at once
 *   TASKER_BENCH_SYNC=1 ...      # engine progress with synchronous commits
 *   TASKER_BENCH_VIA_ORCHESTRATOR=1 ...  # results go through the orchestrator's queue instead of inline
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { measure } from "mitata"
import { TaskInitializer } from "../src/orchestration/TaskInitializer.ts"
import { TaskQueries } from "../src/orchestration/TaskQueries.ts"
import { startBenchEngine } from "./support/BenchEngine.ts"
import { benchTemplates } from "./support/workflows.ts"

const asyncCommit = process.env.TASKER_BENCH_SYNC !== "1"
const inline = process.env.TASKER_BENCH_VIA_ORCHESTRATOR !== "1"
const engine = await startBenchEngine({
  templates: benchTemplates,
  asyncCommit,
  maxConnections: 10,
  settings: { inlineResultProcessing: inline }
})

const runOne = (name: string) =>
  Effect.gen(function*() {
    const tasks = yield* TaskInitializer
    const queries = yield* TaskQueries
    const created = yield* tasks.createTask({ namespace: "bench", name, version: "1.0.0", context: {} })
    const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "5 minutes" })
    if (done.status !== "complete") throw new Error(`task ended ${done.status}`)
  })

const fmt = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`
const report = (label: string, stats: { p50: number; p75: number; p99: number; avg: number; min: number; samples: Array<number> }) =>
  console.log(`${label.padEnd(28)} p50 ${fmt(stats.p50)}  p75 ${fmt(stats.p75)}  p99 ${fmt(stats.p99)}  avg ${fmt(stats.avg)}  min ${fmt(stats.min)}  (n=${stats.samples.length})`)

/** Each case starts from vacuumed, analyzed tables (as autovacuum keeps them in a steady state). */
const vacuum = () =>
  engine.runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("VACUUM ANALYZE").unprepared))

console.log(`commit mode: ${asyncCommit ? "async engine progress" : "synchronous"}; results ${inline ? "applied inline by workers" : "via the orchestrator queue"}`)
for (const name of ["linear4", "diamond4", "linear4_promise"]) {
  await vacuum()
  const stats = await measure(() => engine.runtime.runPromise(runOne(name)), {
    min_samples: 200,
    max_samples: 400,
    min_cpu_time: 1e9,
    warmup_samples: 20
  })
  report(`${name} submit→complete`, stats)
}

const throughput = async (name: string, count: number) => {
  const started = performance.now()
  await engine.runtime.runPromise(Effect.forEach(Array.from({ length: count }), () => runOne(name), { concurrency: "unbounded" }))
  const seconds = (performance.now() - started) / 1000
  console.log(`${count} ${name} at once: ${seconds.toFixed(2)} s  → ${(count / seconds).toFixed(0)} workflows/s, ${(count * 4 / seconds).toFixed(0)} steps/s`)
}
await vacuum()
await throughput("linear4", 1000)

await engine.dispose()
