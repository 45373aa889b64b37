/**
 * What one linear-4 workflow writes: rows inserted, updated (of which HOT) and deleted, transactions committed and
 * WAL bytes, per workflow, over 200 workflows run one at a time on a fresh database after the end-to-end suite's
 * settle step (100 linear-4, then VACUUM (ANALYZE)). Deterministic figures, so `bench:compare` gates them exactly
 * (bench/support/WriteCounters.ts says how they are taken).
 *
 * The engine: orchestrator + worker in this process, 10 connections, default settings (inline results,
 * asynchronous commit; TASKER_BENCH_SYNC=1: synchronous), except that its timers (polling, heartbeat, gauge
 * sampling) are set to ten minutes so that the interval holds the workflows' own work only: workflows run on
 * notifications, which these settings do not change. The first snapshot waits until the engine has run for 12 s
 * (see `settledFor`).
 *
 *   node bench/writes.ts
 */
import { serverVersion, startBenchEngine } from "./support/BenchEngine.ts"
import { once, settle } from "./support/EndToEnd.ts"
import { runStandalone, type Suite, type SuiteContext } from "./support/Harness.ts"
import { type Measure, measureOf } from "./support/Results.ts"
import { benchTemplates } from "./support/workflows.ts"
import { commitsBetween, flushEngine, flushStatements, openWriteCounter, settledFor } from "./support/WriteCounters.ts"

const SUITE = "writes"
const WORKFLOWS = 200
const SETTLE = 100
const CONNECTIONS = 10

export const run = async (ctx: SuiteContext) => {
  const asyncCommit = process.env.TASKER_BENCH_SYNC !== "1"
  const started = performance.now()
  const engine = await startBenchEngine({
    templates: benchTemplates,
    asyncCommit,
    maxConnections: CONNECTIONS,
    settings: {
      pollIntervalMs: 600_000,
      heartbeatIntervalMs: 600_000,
      staleAfterSeconds: 3_600,
      metricsSampleIntervalMs: 600_000
    }
  })
  try {
    // the same in quick and full mode: the figures are compared across runs exactly
    await settle(engine, ["linear4"], SETTLE)
    const counter = await openWriteCounter(engine.databaseUrl!)
    const wait = settledFor - (performance.now() - started)
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    try {
      await flushEngine(engine, CONNECTIONS, counter.forceFlush)
      const before = await counter.snapshot()
      for (let i = 0; i < WORKFLOWS; i++) await once(engine, "linear4")()
      await flushEngine(engine, CONNECTIONS, counter.forceFlush)
      const after = await counter.snapshot()
      const serverWal = await counter.walBytesBetween(before.lsn, after.lsn)
      const wal = await counter.databaseWalBetween(before.lsn, after.lsn)
      const per = (n: number) => n / WORKFLOWS
      const inserted = per(after.inserted - before.inserted)
      const updated = per(after.updated - before.updated)
      const deleted = per(after.deleted - before.deleted)
      const how = `${WORKFLOWS} linear4 one at a time, after ${SETTLE} untimed and VACUUM (ANALYZE); `
      const rows = `${how}pg_stat_user_tables summed over the database's tables, flushed before each snapshot`
      const measures: Array<Measure> = [
        measureOf({ suite: SUITE, name: "linear4 rows inserted per workflow", unit: "rows", value: inserted, gate: "none", measured: rows }),
        measureOf({ suite: SUITE, name: "linear4 rows updated per workflow", unit: "rows", value: updated, gate: "none", measured: rows }),
        measureOf({
          suite: SUITE,
          name: "linear4 HOT updates per workflow",
          unit: "rows",
          value: per(after.hotUpdated - before.hotUpdated),
          gate: "none",
          measured: `${rows} (n_tup_hot_upd: updates that wrote no index entry, included in the updates)`
        }),
        measureOf({ suite: SUITE, name: "linear4 rows deleted per workflow", unit: "rows", value: deleted, gate: "none", measured: rows }),
        measureOf({
          suite: SUITE,
          name: "linear4 row writes per workflow",
          unit: "rows",
          value: inserted + updated + deleted,
          gate: "exact",
          measured: `${rows}: inserted + updated + deleted`,
          target: 45
        }),
        measureOf({
          suite: SUITE,
          name: "linear4 commits per workflow",
          unit: "commits",
          value: per(commitsBetween(before, after, flushStatements(CONNECTIONS))),
          gate: "exact",
          // timing-dependent read-only transactions (e.g. a waiter woken twice re-reads its task) add a few per 200
          tolerancePercent: 1,
          measured: `${how}pg_stat_database.xact_commit of the engine's sessions (read-only transactions included), ` +
            "less the measurement's own"
        })
      ]
      if (wal !== undefined) {
        measures.push(
          measureOf({
            suite: SUITE,
            name: "linear4 writing transactions per workflow",
            unit: "commits",
            value: per(wal.commits),
            gate: "exact",
            measured: `${how}pg_walinspect: commit records of this database's transactions`
          }),
          measureOf({
            suite: SUITE,
            name: "linear4 WAL bytes per workflow",
            unit: "bytes",
            value: per(wal.bytes),
            gate: "exact",
            tolerancePercent: 2,
            measured: `${how}pg_walinspect: this database's WAL records (and their transactions' commit records), ` +
              "full-page images excluded",
            target: 15 * 1024
          }),
          measureOf({
            suite: SUITE,
            name: "linear4 WAL full-page image bytes per workflow",
            unit: "bytes",
            value: per(wal.fullPageImageBytes),
            gate: "none",
            measured: `${how}pg_walinspect: full-page images in this database's records (they follow checkpoints)`
          })
        )
      } else {
        ctx.log("pg_walinspect is not available: WAL per workflow only as the server-wide LSN difference")
      }
      measures.push(measureOf({
        suite: SUITE,
        name: "linear4 WAL bytes per workflow, server-wide",
        unit: "bytes",
        value: per(serverWal),
        gate: "none",
        measured: `${how}pg_current_wal_insert_lsn() difference: every database on the server, full-page images included`
      }))
      ctx.log(
        `per linear4 workflow: ${inserted} inserted, ${updated} updated, ${deleted} deleted, ` +
          `${per(commitsBetween(before, after, flushStatements(CONNECTIONS)))} commits ` +
          `(${wal === undefined ? "?" : per(wal.commits)} writing), ` +
          `WAL ${wal === undefined ? "?" : (per(wal.bytes) / 1024).toFixed(1)} KiB (server-wide ${(per(serverWal) / 1024).toFixed(1)} KiB)`
      )
      return { cases: [], measures }
    } finally {
      await counter.close()
    }
  } finally {
    await engine.dispose()
  }
}

export const suite: Suite = { name: SUITE, run }

if (import.meta.main) await runStandalone(suite, serverVersion)
