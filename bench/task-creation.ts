/**
 * Task creation, for linear-4 and a 50-step template (`bench/dag50`: 50 steps, 96 edges):
 *
 * - through the HTTP API: the typed `TaskerClient` (fetch, keep-alive connections) in this process against an
 *   engine process (bench/support/engine-process.ts) on loopback. One sample: `createTask` called → the typed
 *   201 response decoded. The server validates the request, runs `tasker_create_task` (task, steps, edges,
 *   transitions, first evaluation and the root steps' messages, one synchronous commit) and answers.
 * - in-process: `TaskInitializer.createTask` called → its result. Same work without HTTP.
 * - `GET /health` through the same client and server: the HTTP round trip alone, for comparison.
 *
 * The engines run without workers and orchestration loops, so creation is measured alone (nothing else competes
 * for the two cores); the root steps' messages stay in the worker queue. In-process, the engine records that it
 * hosts the templates (as a worker elsewhere would), so a creation takes the usual path: no `no_live_worker`
 * warning, its query and its log line.
 *
 *   node bench/task-creation.ts [--quick]
 */
import { Effect, ManagedRuntime } from "effect"
import { TaskerClient } from "../src/client/Client.ts"
import { TemplateHosting } from "../src/db/Processors.ts"
import { TaskInitializer } from "../src/tasks/TaskInitializer.ts"
import { TemplateRegistry } from "../src/workflow/TemplateRegistry.ts"
import { createBenchDatabase, serverVersion, startBenchEngine } from "./support/BenchEngine.ts"
import { startEngineProcess } from "./support/EngineProcess.ts"
import { budget, runStandalone, sample, type Suite, type SuiteContext } from "./support/Harness.ts"
import { type CaseResult, latencyCase, type Target } from "./support/Results.ts"
import { benchTemplates } from "./support/workflows.ts"

const SUITE = "task-creation"
const TEMPLATES = [["linear4", 4], ["dag50", 50]] as const
const apiTarget: ReadonlyArray<Target> = [{ metric: "p50", op: "<=", value: 3 }]

export const run = async (ctx: SuiteContext) => {
  const cases: Array<CaseResult> = []
  cases.push(...(await viaApi(ctx)))
  cases.push(...(await inProcess(ctx)))
  return { cases }
}

const viaApi = async (ctx: SuiteContext): Promise<Array<CaseResult>> => {
  const database = await createBenchDatabase("tasker_bench_create")
  try {
    const engine = await startEngineProcess({ databaseUrl: database.url, worker: false, orchestrator: false })
    try {
      const client = ManagedRuntime.make(TaskerClient.layerNode({ baseUrl: engine.baseUrl }))
      try {
        const cases: Array<CaseResult> = []
        const health = () =>
          client.runPromise(Effect.gen(function*() {
            const tasker = yield* TaskerClient
            const started = performance.now()
            yield* tasker.health
            return performance.now() - started
          }))
        cases.push(latencyCase({
          suite: SUITE,
          case: "HTTP API GET /health (round-trip floor)",
          timed: "TaskerClient.health called → typed 200 response (the same client and server, no database work)",
          samplesMs: await sample(health, budget(ctx.mode, "fast"))
        }))
        for (const [name, steps] of TEMPLATES) {
          const once = () =>
            client.runPromise(Effect.gen(function*() {
              const tasker = yield* TaskerClient
              const started = performance.now()
              const created = yield* tasker.createTask({ namespace: "bench", name, version: "1.0.0", context: {} })
              const elapsed = performance.now() - started
              if (!created.created || created.step_count !== steps) {
                return yield* Effect.die(new Error(`unexpected response ${JSON.stringify(created)}`))
              }
              return elapsed
            }))
          cases.push(latencyCase({
            suite: SUITE,
            case: `HTTP API ${name} (${steps} steps)`,
            timed: "TaskerClient.createTask called → typed 201 response (keep-alive HTTP to an engine process)",
            samplesMs: await sample(once, budget(ctx.mode, "slow")),
            targets: name === "linear4" ? apiTarget : undefined
          }))
        }
        return cases
      } finally {
        await client.dispose()
      }
    } finally {
      await engine.stop()
    }
  } finally {
    await database.drop()
  }
}

const inProcess = async (ctx: SuiteContext): Promise<Array<CaseResult>> => {
  const engine = await startBenchEngine({ templates: benchTemplates, worker: false, orchestrator: false })
  try {
    await engine.runtime.runPromise(Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const registered = yield* Effect.forEach(benchTemplates, (t) => registry.register(t))
      yield* (yield* TemplateHosting).host(registered.map((r) => r.namedTaskUuid))
    }))
    const cases: Array<CaseResult> = []
    for (const [name, steps] of TEMPLATES) {
      const once = () =>
        engine.runtime.runPromise(Effect.gen(function*() {
          const tasks = yield* TaskInitializer
          const started = performance.now()
          const created = yield* tasks.createTask({ namespace: "bench", name, version: "1.0.0", context: {} })
          const elapsed = performance.now() - started
          if (!created.created || created.step_count !== steps) {
            return yield* Effect.die(new Error(`unexpected result ${JSON.stringify(created)}`))
          }
          return elapsed
        }))
      cases.push(latencyCase({
        suite: SUITE,
        case: `in-process TaskInitializer ${name} (${steps} steps)`,
        timed: "TaskInitializer.createTask called → its result (same process as the engine)",
        samplesMs: await sample(once, budget(ctx.mode, "slow"))
      }))
    }
    return cases
  } finally {
    await engine.dispose()
  }
}

export const suite: Suite = { name: SUITE, run }

if (import.meta.main) await runStandalone(suite, serverVersion)
