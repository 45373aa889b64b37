/**
 * The engine as a separate process for benchmarks and CPU profiles: the engine (orchestrator and a worker hosting
 * the benchmark workflows) and the HTTP API on a loopback port, over an existing database. It prints
 * `READY <base url>` on stdout once it serves, and shuts down cleanly on SIGTERM / SIGINT / a closed stdin (so
 * `--cpu-prof` writes its profile on exit).
 *
 *   BENCH_ENGINE_DATABASE_URL=postgres://… node [--cpu-prof] bench/support/engine-process.ts
 *
 * Environment: BENCH_ENGINE_DATABASE_URL (required), BENCH_ENGINE_PORT (default 0: any free port),
 * BENCH_ENGINE_WORKER / BENCH_ENGINE_ORCHESTRATOR (`0` turns them off; default on), LOG_LEVEL (default Warn).
 */
import { Effect, Layer, type LogLevel, ManagedRuntime, References } from "effect"
import { HttpServer } from "effect/http"
import { engineLayer } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import { apiServerLayer } from "../../layers/api.ts"
import { benchTemplates } from "./workflows.ts"

const url = process.env.BENCH_ENGINE_DATABASE_URL
if (url === undefined) throw new Error("BENCH_ENGINE_DATABASE_URL is required")
const on = (name: string) => process.env[name] !== "0"

// (no per-caller rate limit: the benchmark client is one caller sending as fast as the engine answers)
const layer = apiServerLayer({
  port: Number(process.env.BENCH_ENGINE_PORT ?? 0),
  logRequests: false,
  rateLimit: 1_000_000,
  rateBurst: 1_000_000
}).pipe(
  Layer.provideMerge(engineLayer({
    templates: benchTemplates,
    worker: on("BENCH_ENGINE_WORKER"),
    orchestrator: on("BENCH_ENGINE_ORCHESTRATOR"),
    settings: { pollIntervalMs: 1000 }
  })),
  Layer.provideMerge(postgresLayer({ url, maxConnections: 10 })),
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, (process.env.LOG_LEVEL ?? "Warn") as LogLevel.LogLevel))
)

const runtime = ManagedRuntime.make(layer)
const address = await runtime.runPromise(Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address)))
process.stdout.write(`READY ${address}\n`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await runtime.dispose()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
process.stdin.on("end", stop)
process.stdin.resume()
