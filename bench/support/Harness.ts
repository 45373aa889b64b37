/**
 * What every suite shares: sampling through mitata, the sample budgets of quick and full mode, the suite
 * interface, the console table, and running one suite alone (`node bench/<suite>.ts [--quick]`).
 *
 * Samples are taken with mitata's `measure` in manual mode: each sample function returns the duration it timed
 * itself (ms), so set-up and tear-down inside a sample (opening a transaction, rolling it back, choosing the row)
 * stay outside the measurement. Batching (mitata averages thousands of fast calls into one sample) is therefore
 * off, and no sample is trimmed: the percentiles are those of individual operations.
 */
import { mkdirSync } from "node:fs"
import os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { measure } from "mitata"
import { fmtMeasure } from "./Compare.ts"
import {
  type CaseResult,
  caseId,
  environment,
  type Measure,
  measureId,
  type Mode,
  type Ratio,
  type RunFile,
  writeRun
} from "./Results.ts"

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const profilesDir = join(repoRoot, "profiles")

export interface SuiteContext {
  readonly mode: Mode
  readonly log: (line: string) => void
}

export interface SuiteOutput {
  readonly cases: ReadonlyArray<CaseResult>
  readonly ratios?: ReadonlyArray<Ratio> | undefined
  readonly measures?: ReadonlyArray<Measure> | undefined
}

export interface Suite {
  readonly name: string
  readonly run: (ctx: SuiteContext) => Promise<SuiteOutput>
}

export interface Budget {
  /** untimed calls before sampling (fewer when they take more than a tenth of `maxTimeMs`) */
  readonly warmup: number
  readonly minSamples: number
  readonly maxSamples: number
  /** keep sampling until the timed total reaches this (and minSamples are taken) */
  readonly minTimeMs: number
  /**
   * an operation so slow that minSamples would take longer than this gets fewer samples (at least `leastSamples`,
   * default 20)
   */
  readonly maxTimeMs: number
  readonly leastSamples?: number | undefined
}

/**
 * Sample budgets: `fast` operations (sub-millisecond SQL calls, notifications), `slow` ones (task creation,
 * end-to-end workflows) and `long` ones (workflows of hundreds of steps, up to a second or more each). Quick mode
 * keeps the whole run near two minutes.
 */
export const budget = (mode: Mode, kind: "fast" | "slow" | "long"): Budget =>
  mode === "quick"
    ? kind === "fast"
      ? { warmup: 30, minSamples: 150, maxSamples: 2_000, minTimeMs: 300, maxTimeMs: 1_000 }
      : kind === "slow"
      ? { warmup: 10, minSamples: 40, maxSamples: 400, minTimeMs: 1_000, maxTimeMs: 3_000 }
      : { warmup: 1, minSamples: 6, maxSamples: 100, minTimeMs: 1_000, maxTimeMs: 3_000, leastSamples: 6 }
    : kind === "fast"
    ? { warmup: 200, minSamples: 2_000, maxSamples: 20_000, minTimeMs: 3_000, maxTimeMs: 15_000 }
    : kind === "slow"
    ? { warmup: 30, minSamples: 300, maxSamples: 3_000, minTimeMs: 8_000, maxTimeMs: 30_000 }
    : { warmup: 5, minSamples: 40, maxSamples: 400, minTimeMs: 8_000, maxTimeMs: 30_000, leastSamples: 20 }

/**
 * Samples `once` (which returns the milliseconds it timed) under the budget; returns the samples in ms.
 * `once` receives the sample's index, to pick a different row per sample.
 */
export const sample = async (
  once: (index: number, warmup: boolean) => Promise<number>,
  b: Budget
): Promise<Array<number>> => {
  let index = 0
  const warm: Array<number> = []
  const warmStart = performance.now()
  while (warm.length < b.warmup && (warm.length < 3 || since(warmStart) < b.maxTimeMs / 10)) warm.push(await once(index++, true))
  const typical = [...warm].sort((x, y) => x - y)[Math.floor(warm.length / 2)]!
  const minSamples = Math.max(
    b.leastSamples ?? 20,
    Math.min(b.minSamples, Math.floor(b.maxTimeMs / Math.max(typical, 1e-3)))
  )
  const stats = await measure(function*() {
    yield { manual: async () => (await once(index++, false)) * 1e6 }
  }, {
    min_samples: minSamples,
    max_samples: Math.max(minSamples, b.maxSamples),
    min_cpu_time: b.minTimeMs * 1e6,
    warmup_samples: 0,
    // keep every sample (mitata drops the two extremes at each end above this count)
    samples_threshold: Number.MAX_SAFE_INTEGER
  })
  return stats.samples.map((ns) => ns / 1e6)
}

/**
 * Samples several operations in turn, one sample each per round (for cases compared by a ratio: drift in the
 * machine's load then affects them alike). Returns the samples of each operation.
 */
export const sampleRotation = async (
  operations: ReadonlyArray<(index: number) => Promise<number>>,
  b: Budget
): Promise<Array<Array<number>>> => {
  const out = operations.map((): Array<number> => [])
  let turn = 0
  const k = operations.length
  await sample(async (index, warmup) => {
    const which = turn++ % k
    const ms = await operations[which]!(index)
    if (!warmup) out[which]!.push(ms)
    return ms
  }, {
    ...b,
    warmup: b.warmup * k,
    minSamples: b.minSamples * k,
    maxSamples: b.maxSamples * k,
    maxTimeMs: b.maxTimeMs * k,
    leastSamples: (b.leastSamples ?? 20) * k
  })
  return out
}

/**
 * Samples several operations in alternating blocks (A, B, …, A, B, …; `rounds` blocks each), for operations that
 * run on different engines; `between` runs after each block, untimed (e.g. to let exporters flush).
 */
export const sampleBlocks = async (
  operations: ReadonlyArray<(index: number) => Promise<number>>,
  b: Budget,
  options: { readonly rounds?: number; readonly between?: (which: number) => Promise<void> } = {}
): Promise<Array<Array<number>>> => {
  const rounds = options.rounds ?? 2
  const out = operations.map((): Array<number> => [])
  const block: Budget = {
    ...b,
    warmup: Math.ceil(b.warmup / rounds),
    minSamples: Math.ceil(b.minSamples / rounds),
    maxSamples: Math.ceil(b.maxSamples / rounds),
    minTimeMs: b.minTimeMs / rounds,
    maxTimeMs: b.maxTimeMs / rounds
  }
  for (let round = 0; round < rounds; round++) {
    for (let which = 0; which < operations.length; which++) {
      out[which]!.push(...(await sample(operations[which]!, block)))
      await options.between?.(which)
    }
  }
  return out
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export const since = (start: number): number => performance.now() - start

const fmtMs = (ms: number): string =>
  !Number.isFinite(ms) ? "-" : ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 100 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`

const fmtOps = (ops: number): string => (ops >= 100 ? ops.toFixed(0) : ops.toFixed(1))

const targetText = (c: CaseResult): string =>
  c.targets === undefined
    ? ""
    : c.targets.map((t) =>
      `${t.met ? "met" : "MISSED"} (${t.metric} ${t.op} ${t.metric === "opsPerSec" ? t.value : fmtMs(t.value)})`
    ).join(", ")

/** The console table of a run's cases, ratios and measures. */
export const formatCases = (
  cases: ReadonlyArray<CaseResult>,
  ratios: ReadonlyArray<Ratio> = [],
  measures: ReadonlyArray<Measure> = []
): string => {
  const rows = cases.map((c) => [
    caseId(c),
    String(c.samples),
    fmtMs(c.p50),
    fmtMs(c.p95),
    fmtMs(c.p99),
    fmtMs(c.mean),
    fmtOps(c.opsPerSec),
    targetText(c)
  ])
  const header = ["case", "n", "p50", "p95", "p99", "mean", "ops/s", "target"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((cell, i) => (i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
      .trimEnd()
  const out = rows.length === 0 ? [] : [line(header), ...rows.map(line)]
  for (const r of ratios) {
    out.push(
      `ratio ${r.name}: ${r.value.toFixed(3)} (${r.numerator} / ${r.denominator}, ${r.metric}${
        r.perStep === undefined ? "" : ` per step: ÷ ${r.perStep.numerator} / ÷ ${r.perStep.denominator}`
      })${
        r.max === undefined ? "" : r.met ? ` met (<= ${r.max})` : ` MISSED (<= ${r.max})`
      }`
    )
  }
  for (const m of measures) {
    const target = m.target === undefined
      ? ""
      : ` ${m.target.met ? "met" : "MISSED"} (<= ${fmtMeasure(m.unit, m.target.value)})`
    out.push(`measure ${measureId(m)}: ${fmtMeasure(m.unit, m.value)} [gate ${m.gate}]${target}`)
  }
  return out.join("\n")
}

export const parseMode = (argv: ReadonlyArray<string>): Mode => (argv.includes("--quick") ? "quick" : "full")

/** `--name value` or `--name=value` */
export const flagValue = (argv: ReadonlyArray<string>, name: string): string | undefined => {
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`))
  if (i === -1) return undefined
  const arg = argv[i]!
  return arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1]
}

/** Runs suites in order and assembles the results file (the PostgreSQL version is asked from the server). */
export const runSuites = async (
  suites: ReadonlyArray<Suite>,
  mode: Mode,
  command: string,
  serverVersion: () => Promise<string>
): Promise<RunFile> => {
  const startedAt = new Date()
  const load = os.loadavg()[0]!
  const started = performance.now()
  const cases: Array<CaseResult> = []
  const ratios: Array<Ratio> = []
  const measures: Array<Measure> = []
  for (const suite of suites) {
    const suiteStart = performance.now()
    console.log(`\n== ${suite.name} (${mode}) ==`)
    const out = await suite.run({ mode, log: (line) => console.log(`  ${line}`) })
    cases.push(...out.cases)
    ratios.push(...(out.ratios ?? []))
    measures.push(...(out.measures ?? []))
    console.log(formatCases(out.cases, out.ratios, out.measures))
    console.log(`  (${suite.name}: ${(since(suiteStart) / 1000).toFixed(1)} s)`)
  }
  return {
    format: "tasker-effect-bench/1",
    mode,
    command,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(since(started) / 100) / 10,
    environment: environment(await serverVersion(), load),
    cases,
    ratios,
    measures
  }
}

/** `node bench/<suite>.ts [--quick]`: runs one suite and writes `profiles/latest-<suite>.json`. */
export const runStandalone = async (suite: Suite, serverVersion: () => Promise<string>): Promise<void> => {
  const argv = process.argv.slice(2)
  const mode = parseMode(argv)
  const run = await runSuites([suite], mode, `node bench/${suite.name}.ts ${argv.join(" ")}`.trim(), serverVersion)
  mkdirSync(profilesDir, { recursive: true })
  const out = join(profilesDir, `latest-${suite.name}.json`)
  writeRun(out, run)
  console.log(`\nwrote ${out} (${run.durationSeconds} s)`)
}
