/**
 * What a workload writes to one database: rows inserted, updated (HOT or not) and deleted in its tables
 * (`pg_stat_user_tables`, every table of the database, queue partitions included), transactions committed
 * (`pg_stat_database.xact_commit`) and WAL, between two snapshots.
 *
 * PostgreSQL's statistics are flushed by each backend on its own schedule (at most once a second, within about
 * 10 s when it goes idle), so a snapshot first makes them current: `flushEngine` runs one short statement calling
 * `pg_stat_force_next_flush()` (PostgreSQL 15+) on each of the engine's pool connections, and the monitoring
 * connection forces its own. A backend reports its commit count only together with some other pending statistic,
 * so each of these statements also scans a catalog table. The counts then hold exactly: the workload's commits plus
 * the ones the measurement itself adds, which `commitsBetween` subtracts.
 *
 * One backend cannot be reached that way: the engine's LISTEN connection. Each batch of notifications it receives
 * is read in a transaction of its own, and it reports those commits only from a timer armed by its last command
 * (the LISTEN), about 10 s later, then never again while it only listens. `settledFor` waits for that timer before
 * the first snapshot, so the listener's transactions fall outside every interval and `xact_commit` counts the
 * engine's sessions only.
 *
 * WAL is counted two ways. The insert position (`pg_current_wal_insert_lsn()`: the write position lags behind
 * asynchronous commits) before and after gives the server's whole WAL, other databases' included. With `pg_walinspect` (a contrib extension of PostgreSQL 15+, created in the benchmark database), the
 * records of the interval are read and only this database's are kept: those touching its relations (block
 * references `rel <tablespace>/<database oid>/…`) and every record of a transaction that did (its commit record),
 * which also counts the transactions that wrote. A temporary replication slot keeps the interval's WAL from being
 * recycled by a checkpoint before it is read. Full-page images (written for the first change of a page after a
 * checkpoint, so they depend on when the server last checkpointed, e.g. for a `DROP DATABASE`) are counted apart.
 */
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient } from "effect/sql"
import type { BenchEngine } from "./EndToEnd.ts"

export interface WriteSnapshot {
  readonly inserted: number
  readonly updated: number
  readonly hotUpdated: number
  readonly deleted: number
  readonly commits: number
  readonly lsn: string
}

export interface DatabaseWal {
  readonly records: number
  /** commit records: the transactions that wrote */
  readonly commits: number
  /** record bytes without full-page images */
  readonly bytes: number
  readonly fullPageImageBytes: number
}

export interface WriteCounter {
  /** current counts; each snapshot adds one commit of its own, counted by the next snapshot */
  readonly snapshot: () => Promise<WriteSnapshot>
  /** the server's WAL between two LSNs, in bytes */
  readonly walBytesBetween: (from: string, to: string) => Promise<number>
  /** this database's WAL between two LSNs (undefined without pg_walinspect or a replication slot) */
  readonly databaseWalBetween: (from: string, to: string) => Promise<DatabaseWal | undefined>
  readonly close: () => Promise<void>
}

/**
 * How long after an engine started its LISTEN connection has reported its statistics for the last time (its idle
 * statistics timer, 10 s in PostgreSQL 15, armed by the LISTEN command at start-up), with a margin.
 */
export const settledFor = 12_000

/** Statements `flushEngine` runs, one per pool connection: each is a commit of its own. */
export const flushStatements = (maxConnections: number): number => maxConnections

/**
 * Makes the engine's pending statistics visible: `maxConnections` concurrent short statements, so that each of its
 * pool's connections runs one (a connection held by the engine, e.g. for LISTEN, runs none and writes nothing).
 */
export const flushEngine = (engine: BenchEngine, maxConnections: number, forceFlush: boolean): Promise<void> =>
  engine.runtime.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.forEach(
        Array.from({ length: flushStatements(maxConnections) }),
        // a backend only reports its commit counts with some other statistic pending: the scan of pg_namespace
        () =>
          forceFlush
            ? sql`SELECT pg_stat_force_next_flush(), pg_sleep(0.05) FROM pg_namespace LIMIT 1`
            : sql`SELECT pg_sleep(0.05) FROM pg_namespace LIMIT 1`,
        { concurrency: "unbounded", discard: true }
      )
      // without pg_stat_force_next_flush (PostgreSQL < 15), wait for the backends' idle flush
      if (!forceFlush) yield* Effect.sleep("11 seconds")
    }) as Effect.Effect<void, unknown, never>
  )

/**
 * The commits of the workload between two snapshots: the difference less the measurement's own commits (the first
 * snapshot's, and one per statement of the `flushEngine` that preceded the second).
 */
export const commitsBetween = (before: WriteSnapshot, after: WriteSnapshot, flushes: number): number =>
  after.commits - before.commits - 1 - flushes

/** Opens a monitoring connection to the database at `url` (and creates pg_walinspect there when available). */
export const openWriteCounter = async (url: string): Promise<WriteCounter & { readonly forceFlush: boolean }> => {
  const scope = Scope.makeUnsafe()
  const sql = await Effect.runPromise(
    PgClient.makeClient({ url: Redacted.make(url), applicationName: "tasker-bench-writes" }).pipe(
      Scope.provide(scope),
      Effect.provide(Reactivity.layer)
    )
  )
  const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runPromise(effect)
  const [{ force }] = await run(sql<{ force: boolean }>`
    SELECT to_regproc('pg_stat_force_next_flush') IS NOT NULL AS force`) as [{ force: boolean }]
  const walinspect = await run(
    sql`CREATE EXTENSION IF NOT EXISTS pg_walinspect`.unprepared.pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false)))
  )
  // keeps the WAL of the intervals from being recycled until this connection closes
  const slot = walinspect &&
    (await run(
      sql`SELECT lsn::text FROM pg_create_physical_replication_slot(${`tasker_bench_${randomBytes(5).toString("hex")}`}, true, true)`.pipe(
        Effect.as(true),
        Effect.catch(() => Effect.succeed(false))
      )
    ))
  // this connection's own pending statistics (the statements above) are flushed now, outside any interval
  if (force) await run(sql`SELECT pg_stat_force_next_flush() FROM pg_namespace LIMIT 1`)
  return {
    forceFlush: force,
    snapshot: async () => {
      const [row] = await run(sql<{
        inserted: string
        updated: string
        hot_updated: string
        deleted: string
        commits: string
        lsn: string
      }>`
        SELECT
          (SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables)::text AS inserted,
          (SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables)::text AS updated,
          (SELECT coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_user_tables)::text AS hot_updated,
          (SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables)::text AS deleted,
          (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::text AS commits,
          pg_current_wal_insert_lsn()::text AS lsn
          ${force ? sql`, pg_stat_force_next_flush()` : sql``}`)
      return {
        inserted: Number(row!.inserted),
        updated: Number(row!.updated),
        hotUpdated: Number(row!.hot_updated),
        deleted: Number(row!.deleted),
        commits: Number(row!.commits),
        lsn: row!.lsn
      }
    },
    walBytesBetween: async (from, to) => {
      const [row] = await run(sql<{ bytes: string }>`SELECT pg_wal_lsn_diff(${to}::pg_lsn, ${from}::pg_lsn)::text AS bytes`)
      return Number(row!.bytes)
    },
    databaseWalBetween: async (from, to) => {
      if (!slot) return undefined
      // pg_walinspect reads flushed WAL only (asynchronous commits reach it within the WAL writer's delay)
      for (let i = 0; i < 100; i++) {
        const [flushed] = await run(sql<{ ok: boolean }>`SELECT pg_current_wal_flush_lsn() >= ${to}::pg_lsn AS ok`)
        if (flushed!.ok) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const [row] = await run(sql<{ records: string; commits: string; bytes: string; fpi: string }>`
        WITH r AS (
          SELECT xid::text AS xid, resource_manager, record_type, record_length, fpi_length, block_ref, description
          FROM pg_get_wal_records_info(${from}::pg_lsn, ${to}::pg_lsn)
        ),
        pattern AS (SELECT 'rel [0-9]+/' || oid || '/' AS re FROM pg_database WHERE datname = current_database()),
        writers AS (SELECT DISTINCT xid FROM r, pattern WHERE xid <> '0' AND block_ref ~ pattern.re),
        -- a transaction whose writes were all made in subtransactions (PL/pgSQL's BEGIN … EXCEPTION) is ours too: its
        -- commit record lists them
        ours AS (
          SELECT xid FROM writers
          UNION
          SELECT r.xid FROM r
          WHERE r.resource_manager = 'Transaction' AND r.record_type LIKE 'COMMIT%'
            AND string_to_array(btrim(substring(r.description FROM 'subxacts:([ 0-9]+)')), ' ')
                && ARRAY(SELECT xid FROM writers)
        )
        SELECT count(*)::text AS records,
          count(*) FILTER (WHERE resource_manager = 'Transaction' AND record_type LIKE 'COMMIT%')::text AS commits,
          coalesce(sum(record_length - fpi_length), 0)::text AS bytes,
          coalesce(sum(fpi_length), 0)::text AS fpi
        FROM r, pattern
        WHERE block_ref ~ pattern.re OR xid IN (SELECT xid FROM ours)`)
      return {
        records: Number(row!.records),
        commits: Number(row!.commits),
        bytes: Number(row!.bytes),
        fullPageImageBytes: Number(row!.fpi)
      }
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
