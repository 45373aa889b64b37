/**
 * Runs the benchmark suites and writes the results (bench/support/Results.ts) to profiles/latest.json.
 *
 *   npm run bench                              # every suite, full mode
 *   npm run bench -- --quick                   # bounded to about two minutes (CI)
 *   npm run bench -- --save-baseline           # also store the run as profiles/baseline.json (commit it)
 *   npm run bench -- --suite e2e,task-creation # some suites only
 *   npm run bench -- --out profiles/mine.json
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { serverVersion } from "./support/BenchEngine.ts"
import { flagValue, parseMode, profilesDir, runSuites } from "./support/Harness.ts"
import { caseId, writeRun } from "./support/Results.ts"
import { allSuites, selectSuites } from "./support/Suites.ts"

const argv = process.argv.slice(2)
const mode = parseMode(argv)
const suites = selectSuites(flagValue(argv, "--suite"))
const saveBaseline = argv.includes("--save-baseline")
if (saveBaseline && suites.length !== allSuites.length) {
  console.error("--save-baseline needs every suite (drop --suite)")
  process.exit(2)
}

const run = await runSuites(suites, mode, `npm run bench -- ${argv.join(" ")}`.trim(), serverVersion)
mkdirSync(profilesDir, { recursive: true })
const out = flagValue(argv, "--out") ?? join(profilesDir, "latest.json")
writeRun(out, run)
console.log(`\nwrote ${out} (${run.mode} mode, ${run.durationSeconds} s)`)
if (saveBaseline) {
  const baseline = join(profilesDir, "baseline.json")
  writeRun(baseline, run)
  console.log(`wrote ${baseline}`)
}

const targets = run.cases.flatMap((c) => (c.targets ?? []).map((t) => ({ id: caseId(c), ...t })))
const missed = targets.filter((t) => !t.met)
const ratioMissed = run.ratios.filter((r) => r.met === false)
console.log(
  `targets: ${targets.length - missed.length} of ${targets.length} met` +
    (run.ratios.some((r) => r.max !== undefined)
      ? `; ratios: ${run.ratios.filter((r) => r.met === true).length} of ${run.ratios.filter((r) => r.max !== undefined).length} met`
      : "")
)
for (const t of missed) console.log(`  missed: ${t.id} ${t.metric} ${t.op} ${t.value} (actual ${t.actual})`)
for (const r of ratioMissed) console.log(`  missed: ratio ${r.name} <= ${r.max} (actual ${r.value})`)
