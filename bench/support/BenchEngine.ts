/**
 * An engine for benchmarks: a fresh database (on the server given by BENCH_DATABASE_URL, default the local server;
 * or an in-memory embedded PGlite database), the engine layer hosting the benchmark workflows, and a
 * ManagedRuntime to run effects from mitata's async functions. `dispose` stops the engine and drops the database.
 *
 * Logging defaults to level Warn: at Info the engine logs a line per task and step, and a benchmark would measure
 * the terminal. Pass `outer` to add telemetry (it is provided around everything, as an application does). Each
 * engine records its metrics into a registry of its own.
 */
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, type LogLevel, ManagedRuntime, Metric, Redacted, References } from "effect"
import { Reactivity } from "effect/reactivity"
import type { DataLayer } from "../../layers/database.ts"
import { embeddedLayer } from "../../layers/embedded.ts"
import { engineLayer } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import type { EngineSettings } from "../../src/config/EngineConfig.ts"
import type { WorkflowDefinition } from "../../src/workflow/Workflow.ts"

export const benchAdminUrl = process.env.BENCH_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

/** Runs statements on the admin database (CREATE / DROP DATABASE) over a short-lived connection. */
export const adminStatement = (statement: string) =>
  Effect.gen(function*() {
    const admin = yield* PgClient.makeClient({ url: Redacted.make(benchAdminUrl) })
    yield* admin.unsafe(statement).unprepared
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)

/** The server's version (`server_version`), for the results file. */
export const serverVersion = (): Promise<string> =>
  Effect.gen(function*() {
    const admin = yield* PgClient.makeClient({ url: Redacted.make(benchAdminUrl) })
    const [row] = yield* admin.unsafe<{ server_version: string }>("SHOW server_version").unprepared
    return `PostgreSQL ${row?.server_version ?? "?"}`
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)

export interface BenchDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

/** Creates an empty database `tasker_bench_<random>`; `drop` removes it (forcing connections closed). */
export const createBenchDatabase = async (prefix = "tasker_bench"): Promise<BenchDatabase> => {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`
  await adminStatement(`CREATE DATABASE ${name}`)
  const url = new URL(benchAdminUrl)
  url.pathname = `/${name}`
  return { name, url: url.toString(), drop: () => adminStatement(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

export const startBenchEngine = async <R>(options: {
  readonly templates: ReadonlyArray<WorkflowDefinition<R>>
  readonly settings?: Partial<EngineSettings>
  readonly asyncCommit?: boolean
  readonly maxConnections?: number
  /** `postgres` (default): a fresh database on the server; `embedded`: in-memory PGlite */
  readonly database?: "postgres" | "embedded"
  /** run a worker / the orchestration loops in this engine (defaults of `engineLayer`) */
  readonly worker?: boolean
  readonly orchestrator?: boolean
  /** default Warn */
  readonly logLevel?: LogLevel.LogLevel
  /** layers around the engine (telemetry) */
  readonly outer?: Layer.Layer<never>
  /** settings of the fresh PostgreSQL database, set before the engine connects (`ALTER DATABASE … SET`) */
  readonly databaseSettings?: Readonly<Record<string, string>>
}) => {
  const database = options.database === "embedded" ? undefined : await createBenchDatabase()
  for (const [name, value] of Object.entries(options.databaseSettings ?? {})) {
    if (!/^[a-z_.]+$/.test(name) || !/^[A-Za-z0-9_. ]+$/.test(value)) throw new Error(`bad database setting ${name}=${value}`)
    await adminStatement(`ALTER DATABASE ${database!.name} SET ${name} = '${value}'`)
  }
  const dbLayer: DataLayer = database === undefined
    ? embeddedLayer()
    : postgresLayer({
      url: database.url,
      maxConnections: options.maxConnections ?? 10,
      ...(options.asyncCommit === undefined ? {} : { asyncCommit: options.asyncCommit })
    })
  const engine = engineLayer({
    templates: options.templates,
    settings: { pollIntervalMs: 1000, ...options.settings },
    ...(options.worker === undefined ? {} : { worker: options.worker }),
    ...(options.orchestrator === undefined ? {} : { orchestrator: options.orchestrator })
  })
  const layer = engine.pipe(
    Layer.provideMerge(dbLayer),
    Layer.provideMerge(Layer.mergeAll(
      Layer.succeed(References.MinimumLogLevel, options.logLevel ?? "Warn"),
      options.outer ?? Layer.empty
    )),
    // a metric registry of its own: engines in one process do not record into (or export) each other's series
    Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map()))
  )
  const runtime = ManagedRuntime.make(layer as Layer.Layer<Layer.Success<typeof layer>, unknown, never>)
  try {
    await runtime.runPromise(Effect.void)
  } catch (error) {
    await runtime.dispose().catch(() => undefined)
    await database?.drop()
    throw error
  }
  return {
    runtime,
    databaseUrl: database?.url,
    /** the PostgreSQL database's name (undefined for embedded PGlite) */
    databaseName: database?.name,
    dispose: async () => {
      await runtime.dispose()
      await database?.drop()
    }
  }
}
