/**
 * The benchmark results format (one JSON file per run: `profiles/latest.json`, `profiles/baseline.json`) and the
 * helpers that build it: a case from its samples, targets, the environment the run came from.
 *
 * Every time is in milliseconds. A latency case's `opsPerSec` is 1000 / mean (one operation at a time); a
 * throughput case measures `opsPerSec` directly and gates on it (`gate: "opsPerSec"`, higher is better).
 *
 * Figures that are not a distribution of samples (rows written per workflow, CPU time per step) are `measures`:
 * one value each, lower is better, gated either exactly (deterministic counts: any rise beyond a small tolerance
 * fails), with the timing threshold (noisy figures such as CPU time), or not at all.
 */
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import os from "node:os"
import { round, type Summary, summarize } from "./Stats.ts"

export type Mode = "quick" | "full"

export type Metric = "p50" | "p95" | "p99" | "mean" | "opsPerSec"

/** A target from the issue: `metric op value`, e.g. p50 <= 0.15 (ms) or opsPerSec >= 500. */
export interface Target {
  readonly metric: Metric
  readonly op: "<=" | ">="
  readonly value: number
}

export interface TargetResult extends Target {
  readonly actual: number
  readonly met: boolean
}

export interface CaseResult {
  readonly suite: string
  readonly case: string
  /** what one sample times, from where to where */
  readonly timed: string
  readonly unit: "ms"
  readonly samples: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
  readonly min: number
  readonly max: number
  readonly opsPerSec: number
  /** q0 … q100 of the samples (for distribution charts) */
  readonly quantiles: ReadonlyArray<number>
  /** the metric the regression gate compares: p50 (lower is better) or opsPerSec (higher is better) */
  readonly gate: "p50" | "opsPerSec"
  readonly targets?: ReadonlyArray<TargetResult> | undefined
  /** other figures of the case (steps/s, bytes exported, …) */
  readonly extra?: Readonly<Record<string, number>> | undefined
}

/**
 * A derived figure: the p50 of one case over the p50 of another (cost of a feature, e.g. telemetry), optionally per
 * step (each side divided by its workflow's step count).
 */
export interface Ratio {
  readonly name: string
  readonly numerator: string
  readonly denominator: string
  readonly metric: "p50" | "mean" | "opsPerSec"
  /** each side's metric was divided by its workflow's step count before the division */
  readonly perStep?: { readonly numerator: number; readonly denominator: number } | undefined
  readonly value: number
  /** the ratio must not exceed this */
  readonly max?: number | undefined
  readonly met?: boolean | undefined
}

/**
 * How `bench:compare` gates a measure (every measure is lower-is-better):
 * - `exact`: a deterministic count (rows, commits, WAL bytes per workflow); a regression is any rise above the
 *   baseline by more than `tolerancePercent` (default 0). Separate from the timing gate, and not retried.
 * - `timing`: a noisy figure (CPU time); a regression is a rise beyond the timing threshold, like a case's p50.
 * - `none`: reported only.
 */
export type MeasureGate = "exact" | "timing" | "none"

/** One figure that is not a latency distribution: a count or a cost per workflow or per step. */
export interface Measure {
  readonly suite: string
  readonly name: string
  /** `rows`, `commits`, `bytes`, `ms`, … (per workflow / per step is in the name) */
  readonly unit: string
  readonly value: number
  /** how it was measured */
  readonly measured: string
  readonly gate: MeasureGate
  /** exact gate only: the rise above the baseline that is tolerated, in percent (default 0) */
  readonly tolerancePercent?: number | undefined
  readonly target?: { readonly op: "<="; readonly value: number; readonly met: boolean } | undefined
}

export const measureOf = (options: Omit<Measure, "target"> & { readonly target?: number | undefined }): Measure => {
  const { target, ...rest } = options
  return {
    ...rest,
    value: round(options.value, 6),
    ...(target === undefined ? {} : { target: { op: "<=", value: target, met: options.value <= target } })
  }
}

export interface Environment {
  readonly node: string
  readonly postgres: string
  readonly cpus: number
  readonly cpuModel: string
  readonly platform: string
  readonly totalMemoryGB: number
  readonly gitCommit: string
  readonly gitDirty: boolean
  /** 1-minute load average when the run started and ended (other work on the machine skews the figures) */
  readonly loadAverage: { readonly start: number; readonly end: number }
}

export interface RunFile {
  readonly format: "tasker-effect-bench/1"
  /** quick (CI, ~2 minutes) or full */
  readonly mode: Mode
  readonly command: string
  readonly startedAt: string
  readonly durationSeconds: number
  readonly environment: Environment
  readonly cases: ReadonlyArray<CaseResult>
  readonly ratios: ReadonlyArray<Ratio>
  /** absent in files written before measures existed */
  readonly measures?: ReadonlyArray<Measure> | undefined
}

export const caseId = (c: { readonly suite: string; readonly case: string }): string => `${c.suite}/${c.case}`

export const measureId = (m: { readonly suite: string; readonly name: string }): string => `${m.suite}/${m.name}`

const metricOf = (s: Summary & { readonly opsPerSec: number }, metric: Metric): number =>
  metric === "opsPerSec" ? s.opsPerSec : s[metric]

export const evaluateTargets = (
  s: Summary & { readonly opsPerSec: number },
  targets: ReadonlyArray<Target> | undefined
): ReadonlyArray<TargetResult> | undefined =>
  targets?.map((t) => {
    const actual = metricOf(s, t.metric)
    return { ...t, actual, met: t.op === "<=" ? actual <= t.value : actual >= t.value }
  })

interface CaseOptions {
  readonly suite: string
  readonly case: string
  readonly timed: string
  readonly targets?: ReadonlyArray<Target> | undefined
  readonly extra?: Readonly<Record<string, number>> | undefined
}

/** A case's record from the distribution of its samples (ms), its rate and the metric it is gated on. */
const caseOf = (
  options: CaseOptions,
  samplesMs: ReadonlyArray<number>,
  rate: (s: Summary) => number,
  gate: CaseResult["gate"]
): CaseResult => {
  const s = summarize(samplesMs)
  const opsPerSec = rate(s)
  return {
    suite: options.suite,
    case: options.case,
    timed: options.timed,
    unit: "ms",
    samples: s.n,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    mean: s.mean,
    min: s.min,
    max: s.max,
    opsPerSec,
    quantiles: s.quantiles,
    gate,
    targets: evaluateTargets({ ...s, opsPerSec }, options.targets),
    extra: options.extra
  }
}

/** A latency case from its samples (ms): one operation at a time, so ops/s is 1000 / mean. */
export const latencyCase = (options: CaseOptions & { readonly samplesMs: ReadonlyArray<number> }): CaseResult =>
  caseOf(options, options.samplesMs, (s) => round(1000 / s.mean), "p50")

/** A throughput case: `operations` in `seconds`, with the per-operation latencies (ms) as the distribution. */
export const throughputCase = (options: CaseOptions & {
  readonly operations: number
  readonly seconds: number
  readonly latenciesMs: ReadonlyArray<number>
}): CaseResult =>
  caseOf(
    { ...options, extra: { seconds: round(options.seconds), operations: options.operations, ...options.extra } },
    options.latenciesMs,
    () => round(options.operations / options.seconds),
    "opsPerSec"
  )

/** The ratio of two cases' metric (numerator / denominator), with its ceiling. */
export const ratioOf = (
  cases: ReadonlyArray<CaseResult>,
  options: {
    readonly name: string
    readonly numerator: string
    readonly denominator: string
    readonly metric?: "p50" | "mean" | "opsPerSec"
    readonly max?: number
    /** per step: the step counts of the numerator's and the denominator's workflows */
    readonly perStep?: { readonly numerator: number; readonly denominator: number }
  }
): Ratio | undefined => {
  const find = (id: string) => cases.find((c) => caseId(c) === id)
  const a = find(options.numerator)
  const b = find(options.denominator)
  if (a === undefined || b === undefined) return undefined
  const metric = options.metric ?? "p50"
  const steps = options.perStep ?? { numerator: 1, denominator: 1 }
  const value = round((a[metric] / steps.numerator) / (b[metric] / steps.denominator), 3)
  return {
    name: options.name,
    numerator: options.numerator,
    denominator: options.denominator,
    metric,
    ...(options.perStep === undefined ? {} : { perStep: options.perStep }),
    value,
    max: options.max,
    met: options.max === undefined ? undefined : value <= options.max
  }
}

const git = (...args: Array<string>): string => {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return ""
  }
}

/** The machine, runtime and commit of this run (`postgres`: the server's `server_version`). */
export const environment = (postgres: string, loadAtStart: number): Environment => ({
  node: process.version,
  postgres,
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  totalMemoryGB: round(os.totalmem() / 2 ** 30, 3),
  gitCommit: git("rev-parse", "HEAD") || "unknown",
  gitDirty: git("status", "--porcelain", "--untracked-files=no") !== "",
  loadAverage: { start: round(loadAtStart, 3), end: round(os.loadavg()[0]!, 3) }
})

export const writeRun = (path: string, run: RunFile): void => writeFileSync(path, JSON.stringify(run, null, 2) + "\n")

export const readRun = (path: string): RunFile => {
  const run = JSON.parse(readFileSync(path, "utf8")) as RunFile
  if (run.format !== "tasker-effect-bench/1") throw new Error(`${path}: not a benchmark results file`)
  return run
}
