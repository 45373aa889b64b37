/**
 * What a log call costs under the engine's logging (`loggingLayer` from src/telemetry/Logging.ts): a disabled
 * level, a level dropped by a module filter, and an enabled JSON line written to a sink that discards it.
 *
 *   npx node bench/logging.ts          # (or `node bench/logging.ts` with Node ≥ 22.19 on the PATH)
 *
 * Every case is one Effect that runs a loop of 1 000 iterations. The per-call figure it prints is (the case's
 * median run time − the median run time of the same loop without the log call) / 1 000. `console.log` is a
 * no-op while the cases run, so the JSON cases measure building and serialising the line, not the terminal.
 * Results on the development machine: docs/observability/logging.md.
 */
import { Context, Effect, Layer, Scope } from "effect"
import { do_not_optimize, measure } from "mitata"
import { withCorrelation } from "../src/telemetry/Correlation.ts"
import { loggingLayer, type LoggingOptions } from "../src/telemetry/Logging.ts"

const N = 1_000

/** The context a layer provides (its loggers and minimum level), built once. */
const contextOf = (options: LoggingOptions) =>
  Effect.runSync(Effect.gen(function*() {
    const scope = yield* Scope.make()
    return yield* Layer.buildWithScope(loggingLayer(options), scope)
  })) as Context.Context<never>

const infoJson = contextOf({ format: "json", level: "Info" })
/** LOG_LEVEL=Info with TASKER_LOG_LEVELS=worker=Debug: the minimum level drops to Debug, a module filter decides */
const infoJsonWorkerDebug = contextOf({ format: "json", level: "Info", moduleLevels: { worker: "Debug" } })

// the loops: identical but for the call in their body
const noLog = Effect.gen(function*() {
  let n = 0
  for (let i = 0; i < N; i++) n += i
  return n
})
const effectVoid = Effect.gen(function*() {
  for (let i = 0; i < N; i++) yield* Effect.void
})
const debugLoopNoFields = Effect.gen(function*() {
  for (let i = 0; i < N; i++) yield* Effect.logDebug("charge attempt")
})
const debugLoop = Effect.gen(function*() {
  for (let i = 0; i < N; i++) yield* Effect.logDebug("charge attempt", { step: "charge", attempt: i })
})
const infoLoop = Effect.gen(function*() {
  for (let i = 0; i < N; i++) yield* Effect.logInfo("charge attempt", { step: "charge", attempt: i })
})
/** as a handler logs: inside a step's correlation, log annotations and span (entered once per run of 1 000) */
const inStep = <A, E>(self: Effect.Effect<A, E>) =>
  self.pipe(
    Effect.annotateLogs({ task_uuid: "01a21c44-9617-7548-b164-dbf4f75c8a2a", step_uuid: "01a21c44-961f-75fb-99e6-b88f3f56f59b" }),
    Effect.withSpan("StepHandler charge"),
    withCorrelation({ correlationId: "01900000-0000-7000-8000-00000000abcd", parentCorrelationId: null })
  )

const run = (context: Context.Context<never>, effect: Effect.Effect<unknown>) => () =>
  do_not_optimize(Effect.runSyncWith(context)(effect))

const cases: ReadonlyArray<readonly [string, () => void]> = [
  ["loop without log call", run(infoJson, noLog)],
  ["loop of Effect.void (one effect step)", run(infoJson, effectVoid)],
  ["logDebug, level Info (disabled), no fields", run(infoJson, debugLoopNoFields)],
  ["logDebug, level Info (disabled)", run(infoJson, debugLoop)],
  ["logDebug, disabled by module filter", run(infoJsonWorkerDebug, Effect.annotateLogs(debugLoop, "loop", "orchestration.results"))],
  ["logDebug disabled, inside a step region", run(infoJson, inStep(debugLoop))],
  ["logInfo, JSON to a no-op sink", run(infoJson, infoLoop)],
  ["logInfo JSON, inside a step region", run(infoJson, inStep(infoLoop))]
]

const realLog = globalThis.console.log
const results: Array<{ name: string; avg: number; p50: number; p99: number }> = []
for (const [name, fn] of cases) {
  globalThis.console.log = () => {}
  const stats = await measure(fn, { min_cpu_time: 1e9 })
  globalThis.console.log = realLog
  results.push({ name, avg: stats.avg, p50: stats.p50, p99: stats.p99 })
}

const base = results[0]!.p50
const us = (ns: number) => `${(ns / 1e3).toFixed(1)} µs`
const perCall = (ns: number) => `${((ns - base) / N).toFixed(1)} ns`
console.log(`node ${process.version}, ${N} iterations per run; per call = (p50 − p50 of the loop without log call) / ${N}\n`)
console.log(`${"case".padEnd(46)}${"p50/run".padStart(12)}${"avg/run".padStart(12)}${"p99/run".padStart(12)}${"per call".padStart(12)}`)
for (const r of results) {
  console.log(`${r.name.padEnd(46)}${us(r.p50).padStart(12)}${us(r.avg).padStart(12)}${us(r.p99).padStart(12)}${perCall(r.p50).padStart(12)}`)
}
