/**
 * Draws the latency distributions of a run against the baseline into a self-contained HTML page.
 *
 *   npm run bench:chart                     # profiles/latest.json vs profiles/baseline.json → profiles/compare.html
 *   npm run bench:chart -- --current a.json --baseline b.json --out chart.html
 */
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { renderComparisonHtml } from "./support/Chart.ts"
import { compareRuns } from "./support/Compare.ts"
import { flagValue, profilesDir } from "./support/Harness.ts"
import { readRun } from "./support/Results.ts"

const argv = process.argv.slice(2)
const current = readRun(flagValue(argv, "--current") ?? join(profilesDir, "latest.json"))
const baselinePath = flagValue(argv, "--baseline") ?? join(profilesDir, "baseline.json")
const baseline = existsSync(baselinePath) ? readRun(baselinePath) : undefined
const threshold = flagValue(argv, "--threshold") ?? process.env.BENCH_THRESHOLD
const comparison = baseline === undefined
  ? undefined
  : compareRuns(baseline, current, threshold === undefined ? {} : { thresholdPercent: Number(threshold) })
const out = flagValue(argv, "--out") ?? join(profilesDir, "compare.html")
writeFileSync(out, renderComparisonHtml(current, baseline, comparison))
console.log(`wrote ${out}`)
