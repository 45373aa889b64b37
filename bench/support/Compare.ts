/**
 * The regression gate (pure): a run's cases against a baseline's, case by case.
 *
 * Each case is compared on its gate metric: p50 for latency cases (lower is better), ops/s for throughput cases
 * (higher is better). `bestOf` merges repeated runs, so that a regression must show in each of them. The slowdown is expressed the same way for both — `ratio` > 1 means slower (current p50 /
 * baseline p50, or baseline ops/s / current ops/s) — and a case regresses when its ratio exceeds
 * 1 + threshold/100. Cases only in one of the runs are listed (new / missing) but never fail the gate: a run may
 * cover fewer suites. The CLI (bench/compare.ts) turns a failed comparison into a non-zero exit unless asked to
 * report only.
 *
 * Measures (single figures, lower is better) are compared by their own gate: `timing` ones (CPU time) like a case,
 * with the same threshold; `exact` ones (deterministic counts: rows, commits, WAL bytes per workflow) fail on any
 * rise above the baseline beyond their own `tolerancePercent` (default 0), a gate of its own that `--report-only`
 * can leave on (`gateExact`); `none` ones are listed only.
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
  readonly measures?: ReadonlyArray<ComparableMeasure> | undefined
}

export interface ComparableCase {
  readonly suite: string
  readonly case: string
  readonly gate: "p50" | "opsPerSec"
  readonly p50: number
  readonly p99: number
  readonly opsPerSec: number
}

export interface ComparableMeasure {
  readonly suite: string
  readonly name: string
  readonly unit: string
  readonly value: number
  readonly gate: "exact" | "timing" | "none"
  readonly tolerancePercent?: number | undefined
}

export type RowStatus = "ok" | "regression" | "improved" | "new" | "missing"

export interface MeasureRow {
  readonly id: string
  readonly unit: string
  readonly gate: "exact" | "timing" | "none"
  readonly baseline: number | undefined
  readonly current: number | undefined
  /** current / baseline (> 1: higher, i.e. worse) */
  readonly change: number | undefined
  /** `reported`: a measure without a gate that is in both runs */
  readonly status: RowStatus | "reported"
}

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
  /** the cases that regressed (timing gate) */
  readonly regressions: ReadonlyArray<CompareRow>
  readonly measureRows: ReadonlyArray<MeasureRow>
  /** measures gated with the timing threshold that regressed */
  readonly timingMeasureRegressions: ReadonlyArray<MeasureRow>
  /** deterministic measures above their baseline (the exact gate) */
  readonly exactRegressions: ReadonlyArray<MeasureRow>
  /** no case and no timing measure regressed */
  readonly timingPassed: boolean
  /** no deterministic measure rose */
  readonly exactPassed: boolean
  /** both gates passed */
  readonly passed: boolean
  /** mode or machine differences that make the figures less comparable */
  readonly notes: ReadonlyArray<string>
}

export const DEFAULT_THRESHOLD_PERCENT = 10

const idOf = (c: ComparableCase) => `${c.suite}/${c.case}`
const measureIdOf = (m: ComparableMeasure) => `${m.suite}/${m.name}`

/** Relative slack for float noise in values that should be equal (rounded figures, sums in another order). */
const EPSILON = 1e-9

/** One measure against its baseline, by the measure's gate (the current run's gate decides). */
export const compareMeasure = (
  then: ComparableMeasure,
  now: ComparableMeasure,
  thresholdPercent: number
): MeasureRow["status"] => {
  const change = now.value / then.value
  if (now.gate === "none") return "reported"
  if (now.gate === "timing") {
    const limit = 1 + thresholdPercent / 100
    return !Number.isFinite(change) || change > limit ? "regression" : change < 1 / limit ? "improved" : "ok"
  }
  const tolerance = (now.tolerancePercent ?? 0) / 100
  const slack = EPSILON * Math.max(1, Math.abs(then.value))
  if (now.value > then.value * (1 + tolerance) + slack) return "regression"
  if (now.value < then.value * (1 - tolerance) - slack) return "improved"
  return "ok"
}

const compareMeasures = (
  baseline: ReadonlyArray<ComparableMeasure>,
  current: ReadonlyArray<ComparableMeasure>,
  thresholdPercent: number
): Array<MeasureRow> => {
  const before = new Map(baseline.map((m) => [measureIdOf(m), m]))
  const seen = new Set<string>()
  const rows: Array<MeasureRow> = []
  for (const now of current) {
    const id = measureIdOf(now)
    seen.add(id)
    const then = before.get(id)
    rows.push(
      then === undefined
        ? { id, unit: now.unit, gate: now.gate, baseline: undefined, current: now.value, change: undefined, status: "new" }
        : {
          id,
          unit: now.unit,
          gate: now.gate,
          baseline: then.value,
          current: now.value,
          change: now.value / then.value,
          status: compareMeasure(then, now, thresholdPercent)
        }
    )
  }
  for (const then of baseline) {
    const id = measureIdOf(then)
    if (!seen.has(id)) {
      rows.push({ id, unit: then.unit, gate: then.gate, baseline: then.value, current: undefined, change: undefined, status: "missing" })
    }
  }
  return rows
}

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
  const measureRows = compareMeasures(baseline.measures ?? [], current.measures ?? [], thresholdPercent)
  const timingMeasureRegressions = measureRows.filter((r) => r.status === "regression" && r.gate === "timing")
  const exactRegressions = measureRows.filter((r) => r.status === "regression" && r.gate === "exact")
  const timingPassed = regressions.length === 0 && timingMeasureRegressions.length === 0
  const exactPassed = exactRegressions.length === 0
  return {
    thresholdPercent,
    rows,
    regressions,
    measureRows,
    timingMeasureRegressions,
    exactRegressions,
    timingPassed,
    exactPassed,
    passed: timingPassed && exactPassed,
    notes
  }
}

/**
 * The suites worth running again: those with a timing regression (a case, or a measure gated on timing). An exact
 * regression is deterministic: running again would not change it.
 */
export const suitesToRetry = (comparison: Comparison): ReadonlyArray<string> => [
  ...new Set([...comparison.regressions, ...comparison.timingMeasureRegressions].map((r) => r.id.split("/")[0]!))
]

/**
 * Per case, the better of several runs of the same cases (lower p50, or higher ops/s): a regression that is real
 * persists in every run, while a slowdown from a burst of other work on the machine rarely repeats. Measures gated
 * on timing keep their lowest value; the other measures (deterministic) and everything else come from the first run.
 */
export const bestOf = <R extends ComparableRun>(runs: ReadonlyArray<R>): R => {
  const [first, ...rest] = runs
  if (first === undefined) throw new Error("bestOf needs at least one run")
  const better = (a: ComparableCase, b: ComparableCase) =>
    (a.gate === "p50" ? b.p50 < a.p50 : b.opsPerSec > a.opsPerSec) ? b : a
  const lowest = (m: ComparableMeasure): ComparableMeasure =>
    m.gate !== "timing" ? m : rest.reduce((best, run) => {
      const other = run.measures?.find((o) => measureIdOf(o) === measureIdOf(m))
      return other !== undefined && other.value < best.value ? other : best
    }, m)
  return {
    ...first,
    cases: first.cases.map((c) =>
      rest.reduce((best, run) => {
        const other = run.cases.find((o) => idOf(o) === idOf(c))
        return other === undefined ? best : better(best, other)
      }, c)
    ),
    ...(first.measures === undefined ? {} : { measures: first.measures.map(lowest) })
  }
}

/**
 * The process exit code for a comparison: 1 when it failed, unless only reporting. `gateExact` keeps the exact gate
 * (deterministic counts) failing under `reportOnly`, which then silences the timing gate only.
 */
export const exitCode = (
  comparison: Comparison,
  options: { readonly reportOnly: boolean; readonly gateExact?: boolean }
): number => {
  const timingFails = !comparison.timingPassed && !options.reportOnly
  const exactFails = !comparison.exactPassed && (!options.reportOnly || options.gateExact === true)
  return timingFails || exactFails ? 1 : 0
}

const fmt = (gate: "p50" | "opsPerSec", value: number | undefined): string =>
  value === undefined
    ? "-"
    : gate === "opsPerSec"
    ? `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}/s`
    : value < 1
    ? `${(value * 1000).toFixed(0)} µs`
    : `${value.toFixed(2)} ms`

const fmtRatio = (ratio: number | undefined): string => (ratio === undefined ? "-" : `${ratio.toFixed(3)}×`)

/** A measure's value in its unit (bytes in KiB from 10 KiB, ms to the microsecond, counts to two decimals). */
export const fmtMeasure = (unit: string, value: number | undefined): string =>
  value === undefined || !Number.isFinite(value)
    ? "-"
    : unit === "bytes"
    ? value >= 10_240 ? `${(value / 1024).toFixed(1)} KiB` : `${value.toFixed(0)} B`
    : unit === "ms"
    ? `${value.toFixed(3)} ms`
    : `${Number(value.toFixed(2))} ${unit}`

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((cell, i) => (i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
      .trimEnd()
  return [line(header), ...rows.map(line)]
}

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
  const measureLines = comparison.measureRows.length === 0 ? [] : [
    "",
    ...table(
      ["measure", "gate", "baseline", "current", "change", "status"],
      comparison.measureRows.map((r) => [
        r.id,
        r.gate,
        fmtMeasure(r.unit, r.baseline),
        fmtMeasure(r.unit, r.current),
        fmtRatio(r.change),
        r.status === "regression" ? "REGRESSION" : r.status
      ])
    )
  ]
  const timingFailures = [
    ...comparison.regressions.map((r) => `${r.id} (${fmtRatio(r.ratio)})`),
    ...comparison.timingMeasureRegressions.map((r) => `${r.id} (${fmtRatio(r.change)})`)
  ]
  const verdict = comparison.timingPassed
    ? `PASS: no case slower than the baseline by more than ${comparison.thresholdPercent} %`
    : `FAIL: ${timingFailures.length} case(s) slower than the baseline by more than ${comparison.thresholdPercent} %: ` +
      timingFailures.join(", ")
  const exactVerdict = comparison.measureRows.every((r) => r.gate !== "exact" || r.baseline === undefined)
    ? []
    : comparison.exactPassed
    ? ["PASS (exact gate): no deterministic measure above its baseline"]
    : [
      `FAIL (exact gate): ${comparison.exactRegressions.length} deterministic measure(s) above the baseline: ` +
      comparison.exactRegressions.map((r) => `${r.id} (${fmtMeasure(r.unit, r.baseline)} → ${fmtMeasure(r.unit, r.current)})`)
        .join(", ")
    ]
  return [
    ...(rows.length === 0 ? [] : table(header, rows)),
    ...(rows.length === 0 ? measureLines.slice(1) : measureLines),
    ...comparison.notes.map((n) => `note: ${n}`),
    verdict,
    ...exactVerdict
  ].join("\n")
}
