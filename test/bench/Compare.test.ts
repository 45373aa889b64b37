import { assert, describe, it } from "@effect/vitest"
import { renderComparisonHtml } from "../../bench/support/Chart.ts"
import {
  type ComparableCase,
  type ComparableMeasure,
  type ComparableRun,
  bestOf,
  compareRuns,
  exitCode,
  formatComparison,
  slowdown,
  suitesToRetry
} from "../../bench/support/Compare.ts"
import { latencyCase, measureOf, ratioOf, throughputCase } from "../../bench/support/Results.ts"
import { parseProcStat } from "../../bench/support/ServerCpu.ts"
import { quantileSorted, summarize } from "../../bench/support/Stats.ts"

const latency = (name: string, p50: number, p99 = p50 * 2): ComparableCase => ({
  suite: "e2e",
  case: name,
  gate: "p50",
  p50,
  p99,
  opsPerSec: 1000 / p50
})
const throughput = (name: string, opsPerSec: number): ComparableCase => ({
  suite: "e2e",
  case: name,
  gate: "opsPerSec",
  p50: 100,
  p99: 200,
  opsPerSec
})
const run = (cases: ReadonlyArray<ComparableCase>, mode = "quick"): ComparableRun => ({
  mode,
  environment: { cpus: 2, node: "v24.21.0", gitCommit: "abc" },
  cases
})

const baseline = run([
  latency("linear4 latency", 4),
  latency("diamond4 latency", 4.5),
  throughput("linear4 throughput", 600)
])

/** The baseline with every case slowed down by `factor` on its gate metric (a synthetic regression). */
const slowedDown = (factor: number, only?: string) =>
  run(baseline.cases.map((c) => {
    if (only !== undefined && c.case !== only) return c
    return c.gate === "p50"
      ? { ...c, p50: c.p50 * factor, p99: c.p99 * factor }
      : { ...c, opsPerSec: c.opsPerSec / factor }
  }))

describe("benchmark comparison", () => {
  it("a deliberate 25 % slowdown of one case fails the gate, naming that case", () => {
    const comparison = compareRuns(baseline, slowedDown(1.25, "diamond4 latency"))
    assert.isFalse(comparison.passed)
    assert.deepStrictEqual(comparison.regressions.map((r) => r.id), ["e2e/diamond4 latency"])
    assert.closeTo(comparison.regressions[0]!.ratio!, 1.25, 1e-9)
    assert.strictEqual(exitCode(comparison, { reportOnly: false }), 1)
    assert.match(formatComparison(comparison), /FAIL: 1 case\(s\).*e2e\/diamond4 latency \(1\.250×\)/)
  })

  it("a slowdown within the threshold passes", () => {
    const comparison = compareRuns(baseline, slowedDown(1.08))
    assert.isTrue(comparison.passed)
    assert.deepStrictEqual(comparison.rows.map((r) => r.status), ["ok", "ok", "ok"])
    assert.strictEqual(exitCode(comparison, { reportOnly: false }), 0)
    assert.match(formatComparison(comparison), /PASS/)
  })

  it("throughput regresses when ops/s drop: the slowdown is baseline / current", () => {
    const comparison = compareRuns(baseline, slowedDown(1.5, "linear4 throughput"))
    assert.deepStrictEqual(comparison.regressions.map((r) => r.id), ["e2e/linear4 throughput"])
    assert.closeTo(comparison.regressions[0]!.ratio!, 1.5, 1e-9)
    assert.strictEqual(slowdown("opsPerSec", 600, 300), 2)
    assert.strictEqual(slowdown("p50", 2, 3), 1.5)
  })

  it("the threshold is configurable", () => {
    const current = slowedDown(1.2)
    assert.isFalse(compareRuns(baseline, current).passed)
    assert.isTrue(compareRuns(baseline, current, { thresholdPercent: 25 }).passed)
    assert.isFalse(compareRuns(baseline, slowedDown(1.02), { thresholdPercent: 0 }).passed)
    assert.throws(() => compareRuns(baseline, current, { thresholdPercent: -1 }))
  })

  it("report-only never fails", () => {
    const comparison = compareRuns(baseline, slowedDown(3))
    assert.isFalse(comparison.passed)
    assert.strictEqual(exitCode(comparison, { reportOnly: true }), 0)
  })

  it("faster cases are improvements; new and missing cases are listed but do not fail", () => {
    const current = run([
      latency("linear4 latency", 2),
      latency("new case", 1),
      throughput("linear4 throughput", 600)
    ])
    const comparison = compareRuns(baseline, current)
    assert.isTrue(comparison.passed)
    const status = Object.fromEntries(comparison.rows.map((r) => [r.id, r.status]))
    assert.deepStrictEqual(status, {
      "e2e/linear4 latency": "improved",
      "e2e/new case": "new",
      "e2e/linear4 throughput": "ok",
      "e2e/diamond4 latency": "missing"
    })
  })

  it("a regression must repeat: bestOf keeps each case's better figure of several runs", () => {
    const noisy = slowedDown(1.5)
    const again = run(noisy.cases.map((c) => (c.case === "diamond4 latency" ? c : baseline.cases.find((b) => b.case === c.case)!)))
    const merged = bestOf([noisy, again])
    const comparison = compareRuns(baseline, merged)
    // the transient slowdown of two cases is gone; the one that repeated stays a regression
    assert.deepStrictEqual(comparison.regressions.map((r) => r.id), ["e2e/diamond4 latency"])
    assert.deepStrictEqual(bestOf([baseline]), baseline)
  })

  it("notes a busy machine", () => {
    const busy = { ...baseline, environment: { cpus: 2, loadAverage: { start: 4, end: 3 } } }
    assert.match(compareRuns(baseline, busy).notes.join("\n"), /this run ran on a busy machine \(load average 4 on 2 CPUs\)/)
  })

  it("notes a baseline measured in another mode", () => {
    const comparison = compareRuns(run(baseline.cases, "full"), baseline)
    assert.isTrue(comparison.passed)
    assert.match(comparison.notes.join("\n"), /full mode.*quick mode/)
  })
})

const measure = (
  name: string,
  value: number,
  gate: ComparableMeasure["gate"],
  tolerancePercent?: number,
  suite = "writes"
): ComparableMeasure => ({ suite, name, unit: "rows", value, gate, ...(tolerancePercent === undefined ? {} : { tolerancePercent }) })

const withMeasures = (measures: ReadonlyArray<ComparableMeasure>): ComparableRun => ({ ...baseline, measures })

const measured = withMeasures([
  measure("row writes per workflow", 97, "exact"),
  measure("commits per workflow", 11, "exact", 1),
  measure("HOT updates per workflow", 19, "none"),
  measure("CPU per step", 1.5, "timing", undefined, "e2e")
])

/** `measured` with one measure's value replaced. */
const changed = (name: string, value: number): ComparableRun =>
  withMeasures(measured.measures!.map((m) => (m.name === name ? { ...m, value } : m)))

describe("benchmark comparison: measures", () => {
  it("a deterministic measure that rises fails the exact gate, separately from the timing gate", () => {
    const comparison = compareRuns(measured, changed("row writes per workflow", 98))
    assert.isFalse(comparison.passed)
    assert.isTrue(comparison.timingPassed)
    assert.isFalse(comparison.exactPassed)
    assert.deepStrictEqual(comparison.exactRegressions.map((r) => r.id), ["writes/row writes per workflow"])
    assert.deepStrictEqual(comparison.regressions, [])
    assert.deepStrictEqual(suitesToRetry(comparison), [], "a deterministic regression is not retried")
    assert.match(formatComparison(comparison), /PASS: no case slower/)
    assert.match(formatComparison(comparison), /FAIL \(exact gate\): 1 deterministic measure\(s\).*writes\/row writes per workflow \(97 rows → 98 rows\)/)
  })

  it("report-only silences the exact gate unless gateExact keeps it", () => {
    const comparison = compareRuns(measured, changed("row writes per workflow", 98))
    assert.strictEqual(exitCode(comparison, { reportOnly: false }), 1)
    assert.strictEqual(exitCode(comparison, { reportOnly: true }), 0)
    assert.strictEqual(exitCode(comparison, { reportOnly: true, gateExact: true }), 1)
    // gateExact does not turn timing regressions into failures under report-only
    const slower = compareRuns(measured, { ...measured, cases: slowedDown(1.5).cases })
    assert.isTrue(slower.exactPassed)
    assert.strictEqual(exitCode(slower, { reportOnly: true, gateExact: true }), 0)
    assert.strictEqual(exitCode(slower, { reportOnly: false }), 1)
  })

  it("the exact gate tolerates only its measure's tolerance; lower is an improvement", () => {
    assert.isTrue(compareRuns(measured, changed("commits per workflow", 11.1)).exactPassed)
    assert.isFalse(compareRuns(measured, changed("commits per workflow", 11.2)).exactPassed)
    assert.isTrue(compareRuns(measured, changed("row writes per workflow", 97 + 1e-12)).exactPassed, "float noise")
    const lower = compareRuns(measured, changed("row writes per workflow", 45))
    assert.isTrue(lower.passed)
    assert.strictEqual(lower.measureRows.find((r) => r.id === "writes/row writes per workflow")!.status, "improved")
  })

  it("a timing measure regresses beyond the threshold like a case, and its suite is retried", () => {
    const comparison = compareRuns(measured, changed("CPU per step", 1.5 * 1.25))
    assert.isFalse(comparison.timingPassed)
    assert.isTrue(comparison.exactPassed)
    assert.deepStrictEqual(comparison.timingMeasureRegressions.map((r) => r.id), ["e2e/CPU per step"])
    assert.deepStrictEqual(suitesToRetry(comparison), ["e2e"])
    assert.match(formatComparison(comparison), /FAIL: 1 case\(s\).*e2e\/CPU per step \(1\.250×\)/)
    assert.isTrue(compareRuns(measured, changed("CPU per step", 1.5 * 1.08)).passed)
  })

  it("ungated measures are reported only; measures in one run only are new or missing", () => {
    const comparison = compareRuns(measured, changed("HOT updates per workflow", 40))
    assert.isTrue(comparison.passed)
    assert.strictEqual(comparison.measureRows.find((r) => r.id === "writes/HOT updates per workflow")!.status, "reported")
    const status = Object.fromEntries(
      compareRuns(baseline, withMeasures([measure("row writes per workflow", 97, "exact")])).measureRows.map((r) => [r.id, r.status])
    )
    assert.deepStrictEqual(status, { "writes/row writes per workflow": "new" })
    const gone = compareRuns(measured, baseline)
    assert.isTrue(gone.passed)
    assert.isTrue(gone.measureRows.every((r) => r.status === "missing"))
  })

  it("bestOf keeps the lowest timing measure and the first run's deterministic ones", () => {
    const merged = bestOf([changed("CPU per step", 2), changed("CPU per step", 1.2), changed("row writes per workflow", 90)])
    const value = (name: string) => merged.measures!.find((m) => m.name === name)!.value
    assert.strictEqual(value("CPU per step"), 1.2)
    assert.strictEqual(value("row writes per workflow"), 97)
  })

  it("measures carry their target; per-step ratios divide each side by its step count", () => {
    const m = measureOf({ suite: "writes", name: "row writes", unit: "rows", value: 97, gate: "exact", measured: "t", target: 45 })
    assert.deepStrictEqual(m.target, { op: "<=", value: 45, met: false })
    const cases = [
      latencyCase({ suite: "e2e", case: "chain128 latency", timed: "t", samplesMs: [128 * 4] }),
      latencyCase({ suite: "e2e", case: "linear4 latency", timed: "t", samplesMs: [4 * 5] })
    ]
    const ratio = ratioOf(cases, {
      name: "per step",
      numerator: "e2e/chain128 latency",
      denominator: "e2e/linear4 latency",
      perStep: { numerator: 128, denominator: 4 },
      max: 1.3
    })!
    assert.strictEqual(ratio.value, 0.8)
    assert.isTrue(ratio.met)
  })
})

describe("benchmark statistics and results", () => {
  it("percentiles interpolate between closest ranks", () => {
    const sorted = Array.from({ length: 101 }, (_, i) => i)
    assert.strictEqual(quantileSorted(sorted, 0.5), 50)
    assert.strictEqual(quantileSorted(sorted, 0.99), 99)
    assert.strictEqual(quantileSorted([1, 2], 0.5), 1.5)
    const s = summarize([5, 1, 3, 2, 4])
    assert.strictEqual(s.p50, 3)
    assert.strictEqual(s.min, 1)
    assert.strictEqual(s.max, 5)
    assert.strictEqual(s.mean, 3)
    assert.strictEqual(s.quantiles.length, 101)
  })

  it("cases carry their targets; throughput gates on ops/s", () => {
    const c = latencyCase({
      suite: "s",
      case: "c",
      timed: "t",
      samplesMs: [1, 2, 3, 4, 100],
      targets: [{ metric: "p50", op: "<=", value: 5 }, { metric: "p99", op: "<=", value: 15 }]
    })
    assert.deepStrictEqual(c.targets?.map((t) => t.met), [true, false])
    assert.strictEqual(c.gate, "p50")
    const t = throughputCase({
      suite: "s",
      case: "burst",
      timed: "t",
      operations: 1000,
      seconds: 2,
      latenciesMs: [10, 20],
      targets: [{ metric: "opsPerSec", op: ">=", value: 500 }]
    })
    assert.strictEqual(t.opsPerSec, 500)
    assert.strictEqual(t.gate, "opsPerSec")
    assert.isTrue(t.targets![0]!.met)
  })

  it("the chart is one self-contained page with a distribution per case", () => {
    const toChart = (cases: ReadonlyArray<ReturnType<typeof latencyCase>>) => ({
      mode: "quick",
      startedAt: "2026-01-01T00:00:00.000Z",
      environment: { gitCommit: "0123456789abcdef", node: "v24", postgres: "PostgreSQL 15", cpus: 2 },
      cases
    })
    const before = toChart([latencyCase({ suite: "e2e", case: "a <b>", timed: "t", samplesMs: [1, 2, 3] })])
    const after = toChart([latencyCase({ suite: "e2e", case: "a <b>", timed: "t", samplesMs: [2, 4, 6] })])
    const html = renderComparisonHtml(after, before, compareRuns(before, after))
    assert.include(html, "<svg")
    assert.include(html, "a &lt;b&gt;")
    assert.include(html, "regression")
    assert.notMatch(html, /<script|src=|href=|https?:\/\//)
  })

  it("the chart lists the measures against the baseline's", () => {
    const chartRun = (value: number) => ({
      mode: "quick",
      startedAt: "2026-01-01T00:00:00.000Z",
      environment: { gitCommit: "0123456789abcdef", node: "v24", postgres: "PostgreSQL 15", cpus: 2 },
      cases: [],
      measures: [
        measureOf({ suite: "writes", name: "row writes <per workflow>", unit: "rows", value, gate: "exact", measured: "t" })
      ]
    })
    const html = renderComparisonHtml(chartRun(98), chartRun(97), compareRuns(chartRun(97), chartRun(98)))
    assert.include(html, "<h2>Measures</h2>")
    assert.include(html, "row writes &lt;per workflow&gt;")
    assert.match(html, /<tr class="regression">.*97 rows.*98 rows/)
  })

  it("CPU times are read from /proc/<pid>/stat after the command name, whatever it contains", () => {
    const fields = (comm: string) =>
      `4242 (${comm}) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 1 0 2753 222445568 7349`
    assert.deepStrictEqual(parseProcStat(fields("postgres")), { comm: "postgres", cpuTicks: 325 })
    assert.deepStrictEqual(parseProcStat(fields("a (b) c")), { comm: "a (b) c", cpuTicks: 325 })
    assert.isUndefined(parseProcStat("garbage"))
  })
})
