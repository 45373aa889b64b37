/**
 * The comparison as a picture (pure): one self-contained HTML page (inline SVG and CSS, no scripts, nothing
 * fetched) with, per case, the latency distribution of the current run against the baseline's as cumulative
 * curves (x: latency, y: percentile), drawn from the 101 quantiles each results file keeps; then the measures
 * (single figures such as rows and WAL per workflow or CPU per step) as a table against the baseline's.
 */
import { type Comparison, fmtMeasure } from "./Compare.ts"

export interface ChartCase {
  readonly suite: string
  readonly case: string
  readonly timed: string
  readonly gate: "p50" | "opsPerSec"
  readonly samples: number
  readonly p50: number
  readonly p99: number
  readonly opsPerSec: number
  readonly quantiles: ReadonlyArray<number>
}

export interface ChartRun {
  readonly mode: string
  readonly startedAt: string
  readonly environment: { readonly gitCommit: string; readonly node: string; readonly postgres: string; readonly cpus: number }
  readonly cases: ReadonlyArray<ChartCase>
  readonly measures?: ReadonlyArray<ChartMeasure> | undefined
}

export interface ChartMeasure {
  readonly suite: string
  readonly name: string
  readonly unit: string
  readonly value: number
  readonly measured: string
  readonly gate: "exact" | "timing" | "none"
  readonly target?: { readonly value: number; readonly met: boolean } | undefined
}

const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const fmtMs = (ms: number): string =>
  ms < 1 ? `${(ms * 1000).toPrecision(3)} µs` : ms < 1000 ? `${ms.toPrecision(3)} ms` : `${(ms / 1000).toPrecision(3)} s`

const W = 520
const H = 150
const PAD = { left: 44, right: 12, top: 10, bottom: 26 }

/** Nice tick values between lo and hi (linear) or powers of 10 and their 2× and 5× (log). */
const ticks = (lo: number, hi: number, log: boolean): Array<number> => {
  if (log) {
    const out: Array<number> = []
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e
        if (v >= lo && v <= hi) out.push(v)
      }
    }
    return out
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1))
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10
  const out: Array<number> = []
  for (let v = Math.ceil(lo / nice) * nice; v <= hi; v += nice) out.push(Number(v.toPrecision(6)))
  return out
}

/** One case's cumulative distribution plot (current in blue, baseline in grey dashes). */
export const distributionSvg = (current: ChartCase, baseline: ChartCase | undefined): string => {
  const series = [current.quantiles, ...(baseline === undefined ? [] : [baseline.quantiles])]
  // q0 and q100 are single samples: the plot spans q1 … q99 of both runs, extremes are clipped to the edges
  const lo0 = Math.min(...series.map((q) => q[1] ?? q[0]!))
  const hi0 = Math.max(...series.map((q) => q[99] ?? q[q.length - 1]!))
  const log = lo0 > 0 && hi0 / lo0 > 20
  const lo = log ? lo0 / 1.1 : Math.max(0, lo0 - (hi0 - lo0) * 0.05)
  const hi = log ? hi0 * 1.1 : hi0 + (hi0 - lo0) * 0.05 || hi0 + 1
  const x = (v: number) => {
    const clamped = Math.min(Math.max(v, lo), hi)
    const t = log ? (Math.log(clamped) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : (clamped - lo) / (hi - lo)
    return PAD.left + t * (W - PAD.left - PAD.right)
  }
  const y = (percent: number) => PAD.top + (1 - percent / 100) * (H - PAD.top - PAD.bottom)
  const path = (q: ReadonlyArray<number>) => q.map((v, i) => `${x(v).toFixed(1)},${y(i).toFixed(1)}`).join(" ")
  const grid = ticks(lo, hi, log).map((t) =>
    `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="grid"/>` +
    `<text x="${x(t).toFixed(1)}" y="${H - PAD.bottom + 14}" class="tick" text-anchor="middle">${escape(fmtMs(t))}</text>`
  ).join("")
  const yTicks = [0, 50, 95, 99, 100].map((p) =>
    `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(p).toFixed(1)}" y2="${y(p).toFixed(1)}" class="grid"/>` +
    `<text x="${PAD.left - 4}" y="${(y(p) + 3).toFixed(1)}" class="tick" text-anchor="end">p${p}</text>`
  ).join("")
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="latency distribution">` +
    grid + yTicks +
    (baseline === undefined ? "" : `<polyline points="${path(baseline.quantiles)}" class="base"/>`) +
    `<polyline points="${path(current.quantiles)}" class="cur"/>` +
    `<text x="${W - PAD.right}" y="${H - 2}" class="tick" text-anchor="end">${log ? "latency (log scale)" : "latency"}</text>` +
    `</svg>`
}

const caseId = (c: { readonly suite: string; readonly case: string }) => `${c.suite}/${c.case}`

/** The whole page: a header with both runs' environments, then one panel per case of the current run. */
export const renderComparisonHtml = (
  current: ChartRun,
  baseline: ChartRun | undefined,
  comparison: Comparison | undefined
): string => {
  const base = new Map((baseline?.cases ?? []).map((c) => [caseId(c), c]))
  const rows = new Map((comparison?.rows ?? []).map((r) => [r.id, r]))
  const describe = (run: ChartRun) =>
    `${escape(run.mode)} mode, ${escape(run.startedAt)}, commit ${escape(run.environment.gitCommit.slice(0, 12))}, ` +
    `Node ${escape(run.environment.node)}, ${escape(run.environment.postgres)}, ${run.environment.cpus} CPUs`
  const panels = current.cases.map((c) => {
    const b = base.get(caseId(c))
    const row = rows.get(caseId(c))
    const status = row?.status ?? "new"
    const gateText = c.gate === "opsPerSec"
      ? `${c.opsPerSec.toFixed(0)} ops/s${b === undefined ? "" : ` (baseline ${b.opsPerSec.toFixed(0)})`}`
      : `p50 ${fmtMs(c.p50)}${b === undefined ? "" : ` (baseline ${fmtMs(b.p50)})`}`
    const ratio = row?.ratio === undefined ? "" : ` · slowdown ${row.ratio.toFixed(3)}×`
    return `<section class="case ${status}">
  <h3>${escape(caseId(c))}</h3>
  <p class="figures">${escape(gateText)} · p99 ${escape(fmtMs(c.p99))}${b === undefined ? "" : ` (baseline ${escape(fmtMs(b.p99))})`}${
      escape(ratio)
    } · <span class="status">${escape(status)}</span> · n=${c.samples}</p>
  ${distributionSvg(c, b)}
  <p class="timed">${escape(c.timed)}</p>
</section>`
  }).join("\n")
  const measureRows = new Map((comparison?.measureRows ?? []).map((r) => [r.id, r]))
  const baseMeasures = new Map((baseline?.measures ?? []).map((m) => [`${m.suite}/${m.name}`, m]))
  const measures = (current.measures ?? []).length === 0 ? "" : `<h2>Measures</h2>
<table class="measures">
<tr><th>measure</th><th>gate</th><th>baseline</th><th>current</th><th>change</th><th>target</th><th>status</th><th>how</th></tr>
${
    (current.measures ?? []).map((m) => {
      const id = `${m.suite}/${m.name}`
      const row = measureRows.get(id)
      const b = baseMeasures.get(id)
      const status = row?.status ?? "new"
      return `<tr class="${status}"><td>${escape(id)}</td><td>${m.gate}</td><td>${escape(fmtMeasure(m.unit, b?.value))}</td>` +
        `<td>${escape(fmtMeasure(m.unit, m.value))}</td><td>${row?.change === undefined ? "" : `${row.change.toFixed(3)}×`}</td>` +
        `<td>${m.target === undefined ? "" : `${m.target.met ? "met" : "missed"} (≤ ${escape(fmtMeasure(m.unit, m.target.value))})`}</td>` +
        `<td class="status">${escape(status)}</td><td class="timed">${escape(m.measured)}</td></tr>`
    }).join("\n")
  }
</table>`
  const failures = [
    ...(comparison?.regressions ?? []),
    ...(comparison?.timingMeasureRegressions ?? []),
    ...(comparison?.exactRegressions ?? [])
  ]
  const verdict = comparison === undefined
    ? "no baseline"
    : comparison.passed
    ? `PASS (threshold ${comparison.thresholdPercent} %; deterministic measures not above the baseline)`
    : `FAIL: ${failures.map((r) => escape(r.id)).join(", ")} (threshold ${comparison.thresholdPercent} %)`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tasker-effect benchmarks</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 20px; color: #222; }
h1 { font-size: 18px; } h3 { font-size: 13px; margin: 0 0 4px; }
.runs p { margin: 2px 0; } .verdict { font-weight: bold; }
.grid-wrap { display: flex; flex-wrap: wrap; gap: 12px; }
.case { border: 1px solid #ddd; border-radius: 4px; padding: 8px; width: ${W}px; }
.case.regression { border-color: #c00; background: #fff5f5; } .case.improved { border-color: #080; }
.figures, .timed { margin: 2px 0; } .timed { color: #666; font-size: 11px; }
.status { font-weight: bold; } .regression .status { color: #c00; } .improved .status { color: #080; }
svg .grid { stroke: #eee; } svg .tick { font-size: 9px; fill: #777; }
svg .cur { fill: none; stroke: #1f5fbf; stroke-width: 1.8; }
svg .base { fill: none; stroke: #888; stroke-width: 1.4; stroke-dasharray: 4 3; }
.legend span { display: inline-block; width: 22px; height: 0; vertical-align: middle; margin: 0 4px 0 12px; }
h2 { font-size: 15px; margin-top: 20px; }
.measures { border-collapse: collapse; } .measures td, .measures th { border: 1px solid #ddd; padding: 3px 6px; text-align: left; }
.measures tr.regression { background: #fff5f5; } .measures tr.regression .status { color: #c00; }
.measures tr.improved .status { color: #080; }
</style></head><body>
<h1>tasker-effect benchmarks: latency distributions</h1>
<div class="runs">
<p>current: ${describe(current)}</p>
<p>baseline: ${baseline === undefined ? "none" : describe(baseline)}</p>
<p class="verdict">${verdict}</p>
<p class="legend">curves: cumulative share of samples (y) at or below a latency (x) —
<span style="border-top: 2px solid #1f5fbf"></span>current <span style="border-top: 2px dashed #888"></span>baseline</p>
</div>
<div class="grid-wrap">
${panels}
</div>
${measures}
</body></html>
`
}
