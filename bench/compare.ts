/**
 * Runs the suites and compares the run with the baseline (profiles/baseline.json): a table of every case's
 * slowdown on its gate metric (p50, or ops/s for throughput), a table of the measures (rows, commits and WAL per
 * workflow, CPU per step), a chart (profiles/compare.html), and a non-zero exit when a case is slower than the
 * baseline by more than the threshold, or a deterministic measure rose (the exact gate).
 *
 *   npm run bench:compare                          # the baseline's mode (quick or full), threshold 10 %
 *   npm run bench:compare -- --quick --report-only # never fails (CI)
 *   npm run bench:compare -- --report-only --gate-exact   # timing reported only, deterministic measures gated
 *   npm run bench:compare -- --threshold 20        # or BENCH_THRESHOLD=20; BENCH_REPORT_ONLY=1 = --report-only
 *   npm run bench:compare -- --retries 0           # default 1: suites with a regression run again, each case
 *                                                  # keeps its better figure (a regression must repeat)
 *   npm run bench:compare -- --current profiles/latest.json   # compare an existing run, don't run
 *   npm run bench:compare -- --baseline other.json --suite e2e --chart out.html
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { serverVersion } from "./support/BenchEngine.ts"
import { renderComparisonHtml } from "./support/Chart.ts"
import {
  bestOf,
  type Comparison,
  compareRuns,
  DEFAULT_THRESHOLD_PERCENT,
  exitCode,
  formatComparison,
  suitesToRetry
} from "./support/Compare.ts"
import { flagValue, profilesDir, runSuites } from "./support/Harness.ts"
import { type Mode, readRun, type RunFile, writeRun } from "./support/Results.ts"
import { selectSuites } from "./support/Suites.ts"

const argv = process.argv.slice(2)
const reportOnly = argv.includes("--report-only") || process.env.BENCH_REPORT_ONLY === "1"
const gateExact = argv.includes("--gate-exact") || process.env.BENCH_GATE_EXACT === "1"
const thresholdText = flagValue(argv, "--threshold") ?? process.env.BENCH_THRESHOLD
const thresholdPercent = thresholdText === undefined ? DEFAULT_THRESHOLD_PERCENT : Number(thresholdText)
if (!Number.isFinite(thresholdPercent) || thresholdPercent < 0) {
  console.error(`invalid threshold: ${thresholdText}`)
  process.exit(2)
}
const baselinePath = flagValue(argv, "--baseline") ?? join(profilesDir, "baseline.json")
const baseline = existsSync(baselinePath) ? readRun(baselinePath) : undefined
if (baseline === undefined) console.log(`no baseline at ${baselinePath}: reporting the run only`)

const retries = Number(flagValue(argv, "--retries") ?? process.env.BENCH_RETRIES ?? (reportOnly ? 0 : 1))
const currentPath = flagValue(argv, "--current")
let current: RunFile
let comparison: Comparison | undefined
if (currentPath !== undefined) {
  current = readRun(currentPath)
  comparison = baseline === undefined ? undefined : compareRuns(baseline, current, { thresholdPercent })
} else {
  const mode: Mode = argv.includes("--quick") ? "quick" : argv.includes("--full") ? "full" : baseline?.mode ?? "full"
  const command = `npm run bench:compare -- ${argv.join(" ")}`.trim()
  current = await runSuites(selectSuites(flagValue(argv, "--suite")), mode, command, serverVersion)
  comparison = baseline === undefined ? undefined : compareRuns(baseline, current, { thresholdPercent })
  for (let attempt = 1; attempt <= retries && comparison !== undefined && !comparison.timingPassed; attempt++) {
    const suites = suitesToRetry(comparison)
    const regressed = comparison.regressions.length + comparison.timingMeasureRegressions.length
    console.log(`\n${regressed} case(s) regressed: running ${suites.join(", ")} again (${attempt}/${retries})`)
    const again = await runSuites(selectSuites(suites.join(",")), mode, command, serverVersion)
    current = bestOf([current, again])
    comparison = compareRuns(baseline!, current, { thresholdPercent })
  }
  mkdirSync(profilesDir, { recursive: true })
  writeRun(join(profilesDir, "latest.json"), current)
}

const chartPath = flagValue(argv, "--chart") ?? join(profilesDir, "compare.html")
writeFileSync(chartPath, renderComparisonHtml(current, baseline, comparison))
console.log(`\n== compared with ${baselinePath} ==`)
if (comparison !== undefined) console.log(formatComparison(comparison))
console.log(`chart: ${chartPath}`)
const code = comparison === undefined ? 0 : exitCode(comparison, { reportOnly, gateExact })
if (comparison !== undefined && !comparison.passed && reportOnly && code === 0) console.log("(report only: not failing)")
process.exit(code)
