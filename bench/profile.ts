/**
 * CPU profile of the engine under the end-to-end workload: the engine and its HTTP API run in their own process
 * (bench/support/engine-process.ts) under `node --cpu-prof`; this process is the client (the typed TaskerClient
 * over keep-alive HTTP, completion by long-poll). Workload: a warm-up, then linear-4 and diamond-4 one at a time,
 * then a burst of linear-4 submitted at once. The engine is stopped cleanly, so V8 writes its profile.
 *
 * Writes profiles/engine-e2e.cpuprofile (open it in Chrome DevTools → Performance → Load profile, or drop it on
 * https://www.speedscope.app) and profiles/engine-e2e.top.txt (top functions by self time, by origin, inclusive).
 *
 *   npm run bench:profile [-- --sequential 400 --burst 500]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, ManagedRuntime } from "effect"
import { TaskerClient } from "../src/client/Client.ts"
import { type CpuProfile, relativeToRepo, summarizeCpuProfile } from "./cpuprofile-summary.ts"
import { createBenchDatabase } from "./support/BenchEngine.ts"
import { startEngineProcess } from "./support/EngineProcess.ts"
import { flagValue, profilesDir } from "./support/Harness.ts"
import { summarize } from "./support/Stats.ts"

const argv = process.argv.slice(2)
const sequential = Number(flagValue(argv, "--sequential") ?? 400)
const burst = Number(flagValue(argv, "--burst") ?? 500)

const submitAndWait = (name: string) =>
  Effect.gen(function*() {
    const tasker = yield* TaskerClient
    const started = performance.now()
    const created = yield* tasker.createTask({ namespace: "bench", name, version: "1.0.0", context: {} })
    const done = yield* tasker.waitForCompletion(created.task_uuid, { timeout: "5 minutes" })
    if (done.status !== "complete") return yield* Effect.die(new Error(`task ${created.task_uuid} ended ${done.status}`))
    return performance.now() - started
  })

const database = await createBenchDatabase("tasker_bench_profile")
const dir = mkdtempSync(join(tmpdir(), "tasker-cpuprofile-"))
const lines: Array<string> = []
try {
  const engine = await startEngineProcess({
    databaseUrl: database.url,
    nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-name=engine.cpuprofile"]
  })
  const client = ManagedRuntime.make(TaskerClient.layerNode({ baseUrl: engine.baseUrl }))
  try {
    const run = <A>(effect: Effect.Effect<A, unknown, TaskerClient>) => client.runPromise(effect)
    for (let i = 0; i < 30; i++) await run(submitAndWait("linear4"))
    const latencies: Record<string, Array<number>> = { linear4: [], diamond4: [] }
    for (let i = 0; i < sequential; i++) {
      const name = i % 2 === 0 ? "linear4" : "diamond4"
      latencies[name]!.push(await run(submitAndWait(name)))
    }
    for (const [name, samples] of Object.entries(latencies)) {
      const s = summarize(samples)
      lines.push(
        `${name} one at a time over HTTP (create → long-poll wait returns): ` +
          `p50 ${s.p50} ms, p95 ${s.p95} ms, p99 ${s.p99} ms (n=${s.n})`
      )
    }
    const started = performance.now()
    await run(Effect.forEach(Array.from({ length: burst }), () => submitAndWait("linear4"), { concurrency: "unbounded" }))
    const seconds = (performance.now() - started) / 1000
    lines.push(`${burst} linear4 at once over HTTP: ${seconds.toFixed(2)} s → ${(burst / seconds).toFixed(0)} tasks/s`)
  } finally {
    await client.dispose()
    await engine.stop()
  }
  const written = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
  if (written === undefined) throw new Error(`no profile written in ${dir}`)
  const target = join(profilesDir, "engine-e2e.cpuprofile")
  // committed: script paths relative to the repository, not this machine's
  const profile = relativeToRepo(JSON.parse(readFileSync(join(dir, written), "utf8")) as CpuProfile)
  writeFileSync(target, JSON.stringify(profile))
  const sizeMB = statSync(target).size / 2 ** 20
  const summary = summarizeCpuProfile(profile, {
    title: `engine process under the end-to-end workload (npm run bench:profile: ${sequential} one at a time, ` +
      `${burst} at once)\n${lines.join("\n")}`
  })
  writeFileSync(join(profilesDir, "engine-e2e.top.txt"), summary)
  console.log(lines.join("\n"))
  console.log(`wrote ${target} (${sizeMB.toFixed(1)} MB) and profiles/engine-e2e.top.txt`)
  console.log(summary.split("\n").slice(0, 30).join("\n"))
} finally {
  rmSync(dir, { recursive: true, force: true })
  await database.drop()
}
