/**
 * An engine for benchmarks: a fresh database on the server given by BENCH_DATABASE_URL (default: the local
 * server), the engine layer hosting the benchmark workflows, and a ManagedRuntime to run effects from mitata's
 * async functions. `dispose` stops the engine and drops the database.
 */
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { engineLayer } from "../../layers/engine.ts"
import { postgresLayer } from "../../layers/postgres.ts"
import type { EngineSettings } from "../../src/orchestration/EngineConfig.ts"
import type { WorkflowDefinition } from "../../src/workflow/Workflow.ts"

export const benchAdminUrl = process.env.BENCH_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

export const adminStatement = (statement: string) =>
  Effect.gen(function*() {
    const admin = yield* PgClient.makeClient({ url: Redacted.make(benchAdminUrl) })
    yield* admin.unsafe(statement).unprepared
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)

export const startBenchEngine = async <R>(options: {
  readonly templates: ReadonlyArray<WorkflowDefinition<R>>
  readonly settings?: Partial<EngineSettings>
  readonly asyncCommit?: boolean
  readonly maxConnections?: number
}) => {
  const name = `tasker_bench_${randomBytes(5).toString("hex")}`
  await adminStatement(`CREATE DATABASE ${name}`)
  const url = new URL(benchAdminUrl)
  url.pathname = `/${name}`
  const layer = engineLayer({ templates: options.templates, settings: { pollIntervalMs: 1000, ...options.settings } }).pipe(
    Layer.provideMerge(postgresLayer({
      url: url.toString(),
      maxConnections: options.maxConnections ?? 10,
      ...(options.asyncCommit === undefined ? {} : { asyncCommit: options.asyncCommit })
    }))
  )
  const runtime = ManagedRuntime.make(layer as Layer.Layer<Layer.Success<typeof layer>, unknown, never>)
  await runtime.runPromise(Effect.void)
  return {
    runtime,
    dispose: async () => {
      await runtime.dispose()
      await adminStatement(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
  }
}
