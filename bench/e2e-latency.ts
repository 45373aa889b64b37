/**
 * End to end: workflows submitted in-process and waited for, completion observed by the task's own notification
 * (`TaskQueries.waitForCompletion`: no fixed-interval polling).
 *
 * One latency sample: `TaskInitializer.createTask` called → `waitForCompletion` returned the completed task (woken
 * by the `task:<uuid>:complete` notification, then one read of the task row). It includes creation, the four
 * steps (claim, handler, result applied inline, next steps enqueued), the notification and the final read.
 *
 * - linear-4, linear-4 with the plain-async adapter (`fromPromise` handlers) and diamond-4 on one engine, and the
 *   floor (linear-4's hops in hand-written minimal SQL, bench/support/Floor.ts, in the engine's commit mode),
 *   sampled in rotation (one of each per round), so the adapter's and the floor's ratios are not skewed by drift;
 * - throughput: N linear-4 submitted at once (1 000; 200 in quick mode), from the first submission to the last
 *   completion observed: tasks/s and steps/s, and each task's submit → completion latency as the distribution;
 *   during it, the CPU time of this process and of the PostgreSQL processes serving it, per step
 *   (bench/support/ServerCpu.ts); then the floor's N chains at once;
 * - telemetry off vs full, PostgreSQL vs embedded PGlite: linear-4 on three engines (PostgreSQL without telemetry,
 *   PostgreSQL with full OTLP export of traces, metrics and Info logs to a local receiver, in-memory PGlite), sampled
 *   in alternating blocks (off, full, PGlite, off, full, PGlite, …: 2 rounds in quick mode, 6 in full) with a pause
 *   after each telemetry block for its exporters to flush;
 * - long workflows: a 128-step chain and a 1 → 200 → 1 fan-out on the first engine, in rotation, with their time
 *   per step (latency / steps), and chain-128's per-step time against linear-4's;
 * - the other commit mode: linear-4 on an engine with the other commit mode (synchronous by default) and the floor
 *   in that mode, in rotation, then N of each at once.
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
import { Layer, Logger } from "effect"
import { otlpLayer } from "../src/telemetry/Otlp.ts"
import { serverVersion, startBenchEngine } from "./support/BenchEngine.ts"
import { type BenchEngine, burst, once, settle, TIMED, vacuum } from "./support/EndToEnd.ts"
import { type Floor, startFloor } from "./support/Floor.ts"
import {
  budget,
  runStandalone,
  sampleBlocks,
  sampleRotation,
  type Suite,
  type SuiteContext
} from "./support/Harness.ts"
import {
  type CaseResult,
  latencyCase,
  type Measure,
  measureOf,
  type Ratio,
  ratioOf,
  type Target,
  throughputCase
} from "./support/Results.ts"
import { startOtlpSink } from "./support/OtlpSink.ts"
import { openCpuWindow } from "./support/ServerCpu.ts"
import { round } from "./support/Stats.ts"
import { benchTemplates, stepCounts } from "./support/workflows.ts"

const SUITE = "e2e"
const latencyTargets: ReadonlyArray<Target> = [
  { metric: "p50", op: "<=", value: 5 },
  { metric: "p99", op: "<=", value: 15 }
]
const FLOOR_TIMED = "floor chain submitted (insert + NOTIFY) → its last hop's done notification received"

type CommitMode = "async" | "sync"

/** The engine's linear-4 cases in the suite's commit mode keep their names; the other mode's say theirs. */
const engineLatencyName = (mode: CommitMode, suiteMode: CommitMode) =>
  mode === suiteMode ? "linear4 latency" : `linear4 ${mode} commit latency`
const engineThroughputName = (mode: CommitMode, suiteMode: CommitMode, count: number) =>
  mode === suiteMode ? `linear4 throughput, ${count} submitted at once` : `linear4 ${mode} commit throughput, ${count} submitted at once`
const floorLatencyName = (mode: CommitMode) => `linear4 floor (${mode} commit) latency`
const floorThroughputName = (mode: CommitMode, count: number) => `linear4 floor (${mode} commit) throughput, ${count} submitted at once`

/** A latency case of a workflow, with its time per step (latency / steps) among its extras. */
const workflowCase = (name: string, caseName: string, samplesMs: ReadonlyArray<number>, targets?: ReadonlyArray<Target>) => {
  const c = latencyCase({ suite: SUITE, case: caseName, timed: TIMED, samplesMs, targets })
  const steps = stepCounts[name]!
  return { ...c, extra: { ...c.extra, steps, perStepP50Ms: round(c.p50 / steps), perStepMeanMs: round(c.mean / steps) } }
}

const throughputOf = (
  caseName: string,
  timed: string,
  count: number,
  result: { readonly seconds: number; readonly latenciesMs: ReadonlyArray<number> },
  targets?: ReadonlyArray<Target>
) =>
  throughputCase({
    suite: SUITE,
    case: caseName,
    timed: `first of ${count} ${timed} (all concurrent) → last completion observed; distribution: each one's submit → completion`,
    operations: count,
    seconds: result.seconds,
    latenciesMs: result.latenciesMs,
    targets,
    extra: { stepsPerSec: Math.round((count * 4) / result.seconds) }
  })

/**
 * CPU per step of N linear-4 at once on `engine`: this process (the engine and the benchmark driving it), the
 * PostgreSQL backends of the engine's database, their sum, and the server's auxiliary processes.
 */
const cpuMeasures = (
  cpu: Awaited<ReturnType<Awaited<ReturnType<typeof openCpuWindow>>["close"]>>,
  steps: number,
  count: number
): Array<Measure> => {
  const how = `${count} linear4 submitted at once (the throughput case), CPU time during it / ${steps} steps`
  const measures = [measureOf({
    suite: SUITE,
    name: "linear4 throughput CPU per step, engine process",
    unit: "ms",
    value: cpu.processMs / steps,
    gate: "timing",
    measured: `${how}: process.cpuUsage() of the benchmark process, which hosts the engine`
  })]
  if (cpu.backendsMs === undefined || cpu.auxiliaryMs === undefined) return measures
  return [
    ...measures,
    measureOf({
      suite: SUITE,
      name: "linear4 throughput CPU per step, PostgreSQL backends",
      unit: "ms",
      value: cpu.backendsMs / steps,
      gate: "timing",
      measured: `${how}: utime + stime (/proc/<pid>/stat) of the ${cpu.backends} backends of the engine's database`
    }),
    measureOf({
      suite: SUITE,
      name: "linear4 throughput CPU per step, engine + PostgreSQL backends",
      unit: "ms",
      value: (cpu.processMs + cpu.backendsMs) / steps,
      gate: "timing",
      measured: `${how}: the two above`,
      target: 1
    }),
    measureOf({
      suite: SUITE,
      name: "linear4 throughput CPU per step, PostgreSQL auxiliary processes (server-wide)",
      unit: "ms",
      value: cpu.auxiliaryMs / steps,
      gate: "none",
      measured: `${how}: WAL writer, checkpointer, background writer, …: they serve every database on the server`
    })
  ]
}

export const run = async (ctx: SuiteContext) => {
  const cases: Array<CaseResult> = []
  const measures: Array<Measure> = []
  const asyncCommit = process.env.TASKER_BENCH_SYNC !== "1"
  const suiteMode: CommitMode = asyncCommit ? "async" : "sync"
  const otherMode: CommitMode = asyncCommit ? "sync" : "async"
  const inline = process.env.TASKER_BENCH_VIA_ORCHESTRATOR !== "1"
  const pgOptions = { templates: benchTemplates, asyncCommit, maxConnections: 10, settings: { inlineResultProcessing: inline } }

  const settleCount = ctx.mode === "quick" ? 100 : 300
  const count = ctx.mode === "quick" ? 200 : 1_000
  const postgres = await startBenchEngine(pgOptions)
  try {
    const floor = await startFloor({ asyncCommit })
    try {
      // 1. native handlers vs the plain-async adapter, diamond-4 and the floor, in rotation
      await settle(postgres, ["linear4", "linear4_promise", "diamond4"], settleCount)
      const [linear, promise, diamond, floorSamples] = await sampleRotation(
        [once(postgres, "linear4"), once(postgres, "linear4_promise"), once(postgres, "diamond4"), floor.once],
        budget(ctx.mode, "slow")
      )
      cases.push(
        workflowCase("linear4", "linear4 latency", linear!, latencyTargets),
        workflowCase("linear4_promise", "linear4 plain-async adapter latency", promise!),
        workflowCase("diamond4", "diamond4 latency", diamond!, latencyTargets),
        latencyCase({ suite: SUITE, case: floorLatencyName(suiteMode), timed: FLOOR_TIMED, samplesMs: floorSamples! })
      )
      ctx.log("rotation done")

      // 2. throughput, with the CPU it costs; then the floor's
      await vacuum(postgres)
      const cpu = await openCpuWindow(postgres.databaseName!)
      const result = await burst(postgres, "linear4", count)
      const used = await cpu.close()
      cases.push(throughputOf(
        engineThroughputName(suiteMode, suiteMode, count),
        "createTask calls",
        count,
        result,
        [{ metric: "opsPerSec", op: ">=", value: 500 }]
      ))
      measures.push(...cpuMeasures(used, count * 4, count))
      if (used.backendsMs === undefined) ctx.log("PostgreSQL's processes are not visible in /proc: engine CPU only")
      await floor.vacuum()
      cases.push(throughputOf(floorThroughputName(suiteMode, count), "floor chains", count, await floor.burst(count)))
      ctx.log(`throughput done (${result.seconds.toFixed(1)} s)`)
    } finally {
      await floor.dispose()
    }

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

    // 4. long workflows, in rotation (after the parts above, whose database state they would change)
    await vacuum(postgres)
    const [chain, fanout] = await sampleRotation(
      [once(postgres, "chain128"), once(postgres, "fanout200")],
      budget(ctx.mode, "long")
    )
    cases.push(
      workflowCase("chain128", "chain128 latency", chain!),
      workflowCase("fanout200", "fanout 1→200→1 latency", fanout!)
    )
    ctx.log("long workflows done")
  } finally {
    await postgres.dispose()
  }

  // 5. the other commit mode: its engine and its floor in rotation, then N of each at once
  cases.push(...(await otherCommitMode(ctx, { ...pgOptions, asyncCommit: !asyncCommit }, otherMode, suiteMode, settleCount, count)))

  const engineFloorRatios = (["async", "sync"] as const).flatMap((mode) => [
    ratioOf(cases, {
      name: `engine / floor, ${mode} commit (linear4 p50)`,
      numerator: `${SUITE}/${engineLatencyName(mode, suiteMode)}`,
      denominator: `${SUITE}/${floorLatencyName(mode)}`
    }),
    ratioOf(cases, {
      // ops/s the other way round: the engine's time per workflow over the floor's, at saturation
      name: `engine / floor, ${mode} commit (linear4 throughput: floor ops/s ÷ engine ops/s)`,
      numerator: `${SUITE}/${floorThroughputName(mode, count)}`,
      denominator: `${SUITE}/${engineThroughputName(mode, suiteMode, count)}`,
      metric: "opsPerSec"
    })
  ])
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
    }),
    ratioOf(cases, {
      name: "chain128 / linear4 time per step (p50)",
      numerator: `${SUITE}/chain128 latency`,
      denominator: `${SUITE}/linear4 latency`,
      perStep: { numerator: stepCounts["chain128"]!, denominator: stepCounts["linear4"]! },
      max: 1.3
    }),
    ratioOf(cases, {
      name: "fanout 1→200→1 / linear4 time per step (p50)",
      numerator: `${SUITE}/fanout 1→200→1 latency`,
      denominator: `${SUITE}/linear4 latency`,
      perStep: { numerator: stepCounts["fanout200"]!, denominator: stepCounts["linear4"]! }
    }),
    ...engineFloorRatios
  ].filter((r): r is Ratio => r !== undefined)
  return { cases, ratios, measures }
}

/** Linear-4 on an engine in the other commit mode and the floor in that mode: latency in rotation, then throughput. */
const otherCommitMode = async (
  ctx: SuiteContext,
  options: Parameters<typeof startBenchEngine>[0],
  mode: CommitMode,
  suiteMode: CommitMode,
  settleCount: number,
  count: number
): Promise<Array<CaseResult>> => {
  const engine: BenchEngine = await startBenchEngine(options)
  try {
    const floor: Floor = await startFloor({ asyncCommit: mode === "async" })
    try {
      await settle(engine, ["linear4"], settleCount)
      const [linear, floorSamples] = await sampleRotation([once(engine, "linear4"), floor.once], budget(ctx.mode, "slow"))
      await vacuum(engine)
      await floor.vacuum()
      const engineBurst = await burst(engine, "linear4", count)
      await floor.vacuum()
      const floorBurst = await floor.burst(count)
      ctx.log(`${mode} commit done`)
      return [
        workflowCase("linear4", engineLatencyName(mode, suiteMode), linear!),
        latencyCase({ suite: SUITE, case: floorLatencyName(mode), timed: FLOOR_TIMED, samplesMs: floorSamples! }),
        throughputOf(engineThroughputName(mode, suiteMode, count), "createTask calls", count, engineBurst),
        throughputOf(floorThroughputName(mode, count), "floor chains", count, floorBurst)
      ]
    } finally {
      await floor.dispose()
    }
  } finally {
    await engine.dispose()
  }
}

export const suite: Suite = { name: SUITE, run }

if (import.meta.main) await runStandalone(suite, serverVersion)
