import { assert, describe, it } from "@effect/vitest"
import { renderComparisonHtml } from "../../bench/support/Chart.ts"
import {
  type ComparableCase,
  type ComparableRun,
  bestOf,
  compareRuns,
  exitCode,
  formatComparison,
  slowdown
} from "../../bench/support/Compare.ts"
import { latencyCase, throughputCase } from "../../bench/support/Results.ts"
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
})
