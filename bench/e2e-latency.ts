/**
 * End to end: workflows submitted in-process and waited for, completion observed by the task's own notification
 * (`TaskQueries.waitForCompletion`: no fixed-interval polling).
 *
 * One latency sample: `TaskInitializer.createTask` called → `waitForCompletion` returned the completed task (woken
 * by the `task:<uuid>:complete` notification, then one read of the task row). It includes creation, the four
 * steps (claim, handler, result applied inline, next steps enqueued), the notification and the final read.
 *
 * - linear-4, linear-4 with the plain-async adapter (`fromPromise` handlers) and diamond-4 on one engine,
 *   sampled in rotation (one of each per round), so the adapter's ratio is not skewed by drift;
 * - throughput: N linear-4 submitted at once (1 000; 200 in quick mode), from the first submission to the last
 *   completion observed: tasks/s and steps/s, and each task's submit → completion latency as the distribution;
 * - telemetry off vs full, PostgreSQL vs embedded PGlite: linear-4 on three engines (PostgreSQL without telemetry,
 *   PostgreSQL with full OTLP export of traces, metrics and Info logs to a local receiver, in-memory PGlite), sampled
 *   in alternating blocks (off, full, PGlite, off, full, PGlite, …: 2 rounds in quick mode, 6 in full) with a pause
 *   after each telemetry block for its exporters to flush.
 *
 * Every engine: orchestrator + worker in this process, 10 connections, default settings (inline result
 * processing, asynchronous commit of engine progress), log level Warn (telemetry full: Info, exported over OTLP,
 * no console logger). Before it is sampled, each engine runs 300 untimed tasks of its workflows (100 in quick mode)
 * and its tables are vacuumed and analyzed (`settle`), so the figures are those of a database whose statistics
 * describe it, as autovacuum keeps them in production; tables are vacuumed and analyzed again before each part.
 *
 *   node bench/e2e-latency.ts [--quick]
 *   TASKER_BENCH_SYNC=1 …                  # engine progress with synchronous commits
 *   TASKER_BENCH_VIA_ORCHESTRATOR=1 …      # results through the orchestrator's queue instead of inline
 */
import { Effect, Layer, Logger } from "effect"
import { vacuumEngineTables } from "../src/db/Maintenance.ts"
import { otlpLayer } from "../src/telemetry/Otlp.ts"
import { TaskInitializer } from "../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../src/tasks/TaskQueries.ts"
import { serverVersion, startBenchEngine } from "./support/BenchEngine.ts"
import {
  budget,
  runStandalone,
  sampleBlocks,
  sampleRotation,
  type Suite,
  type SuiteContext
} from "./support/Harness.ts"
import { type CaseResult, latencyCase, type Ratio, ratioOf, type Target, throughputCase } from "./support/Results.ts"
import { startOtlpSink } from "./support/OtlpSink.ts"
import { benchTemplates } from "./support/workflows.ts"

const SUITE = "e2e"
const latencyTargets: ReadonlyArray<Target> = [
  { metric: "p50", op: "<=", value: 5 },
  { metric: "p99", op: "<=", value: 15 }
]
const TIMED = "TaskInitializer.createTask called → waitForCompletion returned the complete task (notification-driven)"

type BenchEngine = Awaited<ReturnType<typeof startBenchEngine>>

const submitAndWait = (name: string) =>
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

const once = (engine: BenchEngine, name: string) => () =>
  engine.runtime.runPromise(submitAndWait(name) as Effect.Effect<number, unknown, never>)

const vacuum = (engine: BenchEngine) => engine.runtime.runPromise(vacuumEngineTables as Effect.Effect<void, unknown, never>)

/**
 * Brings an engine's database to a steady state before it is sampled: `count` untimed tasks of each workflow,
 * then `VACUUM (ANALYZE)`. Statistics taken on empty tables make the engine's cached generic plans poor as the
 * tables fill (measured: linear-4 p50 from 14 to 19 ms over 600 tasks, back to 11–12 ms after ANALYZE); in
 * production autovacuum analyzes the engine's tables within its first minute, so the benchmark measures that state.
 */
const settle = async (engine: BenchEngine, workflows: ReadonlyArray<string>, count: number) => {
  for (let i = 0; i < count; i++) for (const name of workflows) await once(engine, name)()
  await vacuum(engine)
}

export const run = async (ctx: SuiteContext) => {
  const cases: Array<CaseResult> = []
  const asyncCommit = process.env.TASKER_BENCH_SYNC !== "1"
  const inline = process.env.TASKER_BENCH_VIA_ORCHESTRATOR !== "1"
  const pgOptions = { templates: benchTemplates, asyncCommit, maxConnections: 10, settings: { inlineResultProcessing: inline } }

  const settleCount = ctx.mode === "quick" ? 100 : 300
  const postgres = await startBenchEngine(pgOptions)
  try {
    // 1. native handlers vs the plain-async adapter, and diamond-4, in rotation
    await settle(postgres, ["linear4", "linear4_promise", "diamond4"], settleCount)
    const [linear, promise, diamond] = await sampleRotation(
      [once(postgres, "linear4"), once(postgres, "linear4_promise"), once(postgres, "diamond4")],
      budget(ctx.mode, "slow")
    )
    cases.push(
      latencyCase({ suite: SUITE, case: "linear4 latency", timed: TIMED, samplesMs: linear!, targets: latencyTargets }),
      latencyCase({ suite: SUITE, case: "linear4 plain-async adapter latency", timed: TIMED, samplesMs: promise! }),
      latencyCase({ suite: SUITE, case: "diamond4 latency", timed: TIMED, samplesMs: diamond!, targets: latencyTargets })
    )
    ctx.log("rotation done")

    // 2. throughput
    await vacuum(postgres)
    const count = ctx.mode === "quick" ? 200 : 1_000
    const started = performance.now()
    const latencies = await postgres.runtime.runPromise(
      Effect.forEach(Array.from({ length: count }), () => submitAndWait("linear4"), { concurrency: "unbounded" }) as Effect.Effect<
        Array<number>,
        unknown,
        never
      >
    )
    const seconds = (performance.now() - started) / 1000
    cases.push(throughputCase({
      suite: SUITE,
      case: `linear4 throughput, ${count} submitted at once`,
      timed: `first of ${count} createTask calls (all concurrent) → last completion observed; ` +
        "distribution: each task's submit → completion",
      operations: count,
      seconds,
      latenciesMs: latencies,
      targets: [{ metric: "opsPerSec", op: ">=", value: 500 }],
      extra: { stepsPerSec: Math.round((count * 4) / seconds) }
    }))
    ctx.log(`throughput done (${seconds.toFixed(1)} s)`)

    // 3. telemetry off / full and PostgreSQL / PGlite, in alternating blocks
    const sink = await startOtlpSink()
    const full = await startBenchEngine({
      ...pgOptions,
      // finished tasks' metric series are dropped at the export interval, as engineConfigFromEnv does
      settings: { ...pgOptions.settings, metricsSweepIntervalMs: 5_000 },
      logLevel: "Info",
      // the SDK's logger replaces the console logger: Info logs go to the receiver only
      outer: otlpLayer({ protocol: "http/protobuf", endpoint: sink.url, serviceName: "tasker-bench", metricExportIntervalMs: 5_000 })
        .pipe(Layer.provide(Logger.layer([]))) as Layer.Layer<never>
    })
    try {
      const embedded = await startBenchEngine({ templates: benchTemplates, database: "embedded" })
      try {
        await vacuum(postgres)
        for (const engine of [full, embedded]) await settle(engine, ["linear4"], settleCount)
        const [off, on, pglite] = await sampleBlocks(
          [once(postgres, "linear4"), once(full, "linear4"), once(embedded, "linear4")],
          budget(ctx.mode, "slow"),
          {
            rounds: ctx.mode === "quick" ? 2 : 6,
            between: (which) => (which === 1 ? new Promise((r) => setTimeout(r, 1_000)) : Promise.resolve())
          }
        )
        cases.push(
          latencyCase({ suite: SUITE, case: "linear4 telemetry off latency", timed: TIMED, samplesMs: off! }),
          latencyCase({
            suite: SUITE,
            case: "linear4 telemetry full (OTLP) latency",
            timed: TIMED,
            samplesMs: on!,
            extra: Object.fromEntries(Object.entries(sink.received).map(([signal, r]) => [`${signal}Bytes`, r.bytes]))
          }),
          latencyCase({ suite: SUITE, case: "linear4 embedded PGlite latency", timed: TIMED, samplesMs: pglite! })
        )
      } finally {
        await embedded.dispose()
      }
    } finally {
      await full.dispose()
      await sink.close()
    }
  } finally {
    await postgres.dispose()
  }

  const ratios = [
    ratioOf(cases, {
      name: "plain-async adapter / native Effect handlers (linear4 p50)",
      numerator: `${SUITE}/linear4 plain-async adapter latency`,
      denominator: `${SUITE}/linear4 latency`,
      max: 1.05
    }),
    ratioOf(cases, {
      name: "telemetry full / off (linear4 p50)",
      numerator: `${SUITE}/linear4 telemetry full (OTLP) latency`,
      denominator: `${SUITE}/linear4 telemetry off latency`,
      max: 1.1
    }),
    ratioOf(cases, {
      name: "embedded PGlite / PostgreSQL (linear4 p50)",
      numerator: `${SUITE}/linear4 embedded PGlite latency`,
      denominator: `${SUITE}/linear4 telemetry off latency`
    })
  ].filter((r): r is Ratio => r !== undefined)
  return { cases, ratios }
}

export const suite: Suite = { name: SUITE, run }

if (import.meta.main) await runStandalone(suite, serverVersion)
