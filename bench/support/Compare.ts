/**
 * The regression gate (pure): a run's cases against a baseline's, case by case.
 *
 * Each case is compared on its gate metric: p50 for latency cases (lower is better), ops/s for throughput cases
 * (higher is better). `bestOf` merges repeated runs, so that a regression must show in each of them. The slowdown is expressed the same way for both — `ratio` > 1 means slower (current p50 /
 * baseline p50, or baseline ops/s / current ops/s) — and a case regresses when its ratio exceeds
 * 1 + threshold/100. Cases only in one of the runs are listed (new / missing) but never fail the gate: a run may
 * cover fewer suites. The CLI (bench/compare.ts) turns a failed comparison into a non-zero exit unless asked to
 * report only.
 */

/** The parts of a results file the comparison reads (bench/support/Results.ts `RunFile`). */
export interface ComparableRun {
  readonly mode: string
  readonly environment?: {
    readonly gitCommit?: string
    readonly cpus?: number
    readonly node?: string
    readonly loadAverage?: { readonly start: number; readonly end: number }
  } | undefined
  readonly cases: ReadonlyArray<ComparableCase>
}

export interface ComparableCase {
  readonly suite: string
  readonly case: string
  readonly gate: "p50" | "opsPerSec"
  readonly p50: number
  readonly p99: number
  readonly opsPerSec: number
}

export type RowStatus = "ok" | "regression" | "improved" | "new" | "missing"

export interface CompareRow {
  readonly id: string
  readonly gate: "p50" | "opsPerSec"
  readonly baseline: number | undefined
  readonly current: number | undefined
  /** > 1: slower than the baseline (on the gate metric) */
  readonly ratio: number | undefined
  /** current p99 / baseline p99 (informational) */
  readonly p99Ratio: number | undefined
  readonly status: RowStatus
}

export interface Comparison {
  readonly thresholdPercent: number
  readonly rows: ReadonlyArray<CompareRow>
  readonly regressions: ReadonlyArray<CompareRow>
  readonly passed: boolean
  /** mode or machine differences that make the figures less comparable */
  readonly notes: ReadonlyArray<string>
}

export const DEFAULT_THRESHOLD_PERCENT = 10

const idOf = (c: ComparableCase) => `${c.suite}/${c.case}`

/** Slowdown on the gate metric: > 1 is slower. */
export const slowdown = (gate: "p50" | "opsPerSec", baseline: number, current: number): number =>
  gate === "p50" ? current / baseline : baseline / current

export const compareRuns = (
  baseline: ComparableRun,
  current: ComparableRun,
  options: { readonly thresholdPercent?: number } = {}
): Comparison => {
  const thresholdPercent = options.thresholdPercent ?? DEFAULT_THRESHOLD_PERCENT
  if (!(thresholdPercent >= 0)) throw new Error(`invalid threshold ${thresholdPercent}`)
  const limit = 1 + thresholdPercent / 100
  const before = new Map(baseline.cases.map((c) => [idOf(c), c]))
  const seen = new Set<string>()
  const rows: Array<CompareRow> = []
  for (const now of current.cases) {
    const id = idOf(now)
    seen.add(id)
    const then = before.get(id)
    if (then === undefined) {
      rows.push({
        id,
        gate: now.gate,
        baseline: undefined,
        current: now[now.gate],
        ratio: undefined,
        p99Ratio: undefined,
        status: "new"
      })
      continue
    }
    const gate = now.gate
    const ratio = slowdown(gate, then[gate], now[gate])
    const status: RowStatus = !Number.isFinite(ratio) || ratio > limit ? "regression" : ratio < 1 / limit ? "improved" : "ok"
    rows.push({ id, gate, baseline: then[gate], current: now[gate], ratio, p99Ratio: now.p99 / then.p99, status })
  }
  for (const then of baseline.cases) {
    const id = idOf(then)
    if (!seen.has(id)) {
      rows.push({
        id,
        gate: then.gate,
        baseline: then[then.gate],
        current: undefined,
        ratio: undefined,
        p99Ratio: undefined,
        status: "missing"
      })
    }
  }
  const notes: Array<string> = []
  if (baseline.mode !== current.mode) {
    notes.push(`the baseline was measured in ${baseline.mode} mode, this run in ${current.mode} mode: sample counts differ`)
  }
  const be = baseline.environment
  const ce = current.environment
  if (be?.cpus !== undefined && ce?.cpus !== undefined && be.cpus !== ce.cpus) {
    notes.push(`different machines: ${be.cpus} CPUs in the baseline, ${ce.cpus} now`)
  }
  if (be?.node !== undefined && ce?.node !== undefined && be.node !== ce.node) notes.push(`Node ${be.node} → ${ce.node}`)
  for (const [label, env] of [["the baseline", be], ["this run", ce]] as const) {
    const load = env?.loadAverage === undefined ? undefined : Math.max(env.loadAverage.start, env.loadAverage.end)
    if (load !== undefined && env?.cpus !== undefined && load > env.cpus / 2) {
      notes.push(`${label} ran on a busy machine (load average ${load} on ${env.cpus} CPUs): its figures are unreliable`)
    }
  }
  const regressions = rows.filter((r) => r.status === "regression")
  return { thresholdPercent, rows, regressions, passed: regressions.length === 0, notes }
}

/**
 * Per case, the better of several runs of the same cases (lower p50, or higher ops/s): a regression that is real
 * persists in every run, while a slowdown from a burst of other work on the machine rarely repeats. The first run
 * provides everything else.
 */
export const bestOf = <R extends ComparableRun>(runs: ReadonlyArray<R>): R => {
  const [first, ...rest] = runs
  if (first === undefined) throw new Error("bestOf needs at least one run")
  const better = (a: ComparableCase, b: ComparableCase) =>
    (a.gate === "p50" ? b.p50 < a.p50 : b.opsPerSec > a.opsPerSec) ? b : a
  return {
    ...first,
    cases: first.cases.map((c) =>
      rest.reduce((best, run) => {
        const other = run.cases.find((o) => idOf(o) === idOf(c))
        return other === undefined ? best : better(best, other)
      }, c)
    )
  }
}

/** The process exit code for a comparison: 1 when it failed, unless only reporting. */
export const exitCode = (comparison: Comparison, options: { readonly reportOnly: boolean }): number =>
  comparison.passed || options.reportOnly ? 0 : 1

const fmt = (gate: "p50" | "opsPerSec", value: number | undefined): string =>
  value === undefined
    ? "-"
    : gate === "opsPerSec"
    ? `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}/s`
    : value < 1
    ? `${(value * 1000).toFixed(0)} µs`
    : `${value.toFixed(2)} ms`

const fmtRatio = (ratio: number | undefined): string => (ratio === undefined ? "-" : `${ratio.toFixed(3)}×`)

/** The comparison as a text table plus a verdict line. */
export const formatComparison = (comparison: Comparison): string => {
  const rows = comparison.rows.map((r) => [
    r.id,
    r.gate === "p50" ? "p50" : "ops/s",
    fmt(r.gate, r.baseline),
    fmt(r.gate, r.current),
    fmtRatio(r.ratio),
    fmtRatio(r.p99Ratio),
    r.status === "regression" ? "REGRESSION" : r.status
  ])
  const header = ["case", "metric", "baseline", "current", "slowdown", "p99 ×", "status"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((cell, i) => (i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
      .trimEnd()
  const verdict = comparison.passed
    ? `PASS: no case slower than the baseline by more than ${comparison.thresholdPercent} %`
    : `FAIL: ${comparison.regressions.length} case(s) slower than the baseline by more than ${comparison.thresholdPercent} %: ` +
      comparison.regressions.map((r) => `${r.id} (${fmtRatio(r.ratio)})`).join(", ")
  return [line(header), ...rows.map(line), ...comparison.notes.map((n) => `note: ${n}`), verdict].join("\n")
}
