/**
 * An effect/sql `SqlClient` over one in-process PGlite database (PostgreSQL in WASM, a single session), so the
 * engine's SQL runs unchanged without a database server.
 *
 * - One session for everything: `SqlClient.makeSqliteAcquirers` shares it through a semaphore. A statement holds
 *   the semaphore while it runs; a transaction holds it from `BEGIN` to `COMMIT`/`ROLLBACK`, so statements of
 *   other fibers wait and never land inside someone else's transaction. LISTEN/UNLISTEN take the same semaphore.
 * - Statements are compiled by `PgClient.makeCompiler()` of `@effect/sql-pg` (placeholders `$1…`), and parameters
 *   are typed the way `@effect/sql-pg` types them (integer → int4 or int8, other numbers → float8, bigint → int8,
 *   boolean, Date → timestamptz, bytes → bytea, arrays → the element's array type, strings untyped so that
 *   PostgreSQL infers their type from the statement), so a statement means the same on both clients.
 * - Values come back as `@effect/sql-pg` returns them: timestamptz/timestamp → `Date` (millisecond precision),
 *   int8 → `bigint`, numeric → string, date → `YYYY-MM-DD` string, json/jsonb → parsed, uuid → string, arrays →
 *   arrays, time → microseconds (`bigint`), interval → `{ months, days, microseconds }`.
 * - PostgreSQL errors become `SqlError`s whose `reason` follows the SQLSTATE (23505 `UniqueViolation`, other 23xxx
 *   `ConstraintError`, 40001 `SerializationError`, 40P01 `DeadlockError`, …); the PGlite error is the `cause`.
 *
 * In-memory databases of one process start from a snapshot of the first one's freshly initialized data
 * directory, which skips `initdb` (about 2 s) for every database after the first.
 */
import { PGlite, type PGliteOptions, type Results } from "@electric-sql/pglite"
import { PgClient, PgTypes } from "@effect/sql-pg"
import { Context, Effect, Layer, Queue, Scope, Semaphore, Stream } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlConnection, SqlError } from "effect/sql"
import * as DataDirLock from "./DataDirLock.ts"
import type { DataDirLocked, DataDirUnavailable } from "./DataDirLock.ts"
import { NotificationSource } from "./Notifications.ts"

export const TypeId = "~tasker/db/PgliteClient"
export type TypeId = typeof TypeId

export interface PgliteClient extends SqlClient.SqlClient {
  readonly [TypeId]: TypeId
  /** The PGlite instance. Use `withSession` rather than calling it directly, to stay out of open transactions. */
  readonly pglite: PGlite
  /**
   * Listens on `channel` for the lifetime of the scope, through PGlite's `listen` API. Notifications arrive after
   * the transaction that sent them commits. The queue fails if the database is closed while listening.
   */
  readonly listen: (channel: string) => Effect.Effect<Queue.Dequeue<string, SqlError.SqlError>, SqlError.SqlError, Scope.Scope>
  readonly notify: (channel: string, payload: string) => Effect.Effect<void, SqlError.SqlError>
  /** Runs `f` with the session to itself (no statement or transaction of the client runs meanwhile). */
  readonly withSession: <A>(f: (pglite: PGlite) => Promise<A>) => Effect.Effect<A, SqlError.SqlError>
}

export const PgliteClient: Context.Service<PgliteClient, PgliteClient> = Context.Service<PgliteClient, PgliteClient>(
  "tasker/db/PgliteClient"
)

export interface PgliteClientOptions {
  /**
   * a directory for a persistent database (created on first use, parents included); in memory when absent. One
   * process at a time: it is locked while open (`DataDirLock`, the file `tasker.lock` in it)
   */
  readonly dataDir?: string | undefined
  /** start from a data directory dumped with `PGlite.dumpDataDir` (in memory only) */
  readonly loadDataDir?: Blob | File | undefined
  /**
   * session settings applied once the database is open (`SET name = value`), e.g. `plan_cache_mode`. Unlike the
   * server, the embedded session is never reset, so they last as long as the database is open.
   */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** PGlite's debug level (0-5) */
  readonly debug?: 0 | 1 | 2 | 3 | 4 | 5 | undefined
  /** in memory: start from the process's snapshot of a fresh data directory (default true) */
  readonly reuseInitializedDataDir?: boolean | undefined
  readonly spanAttributes?: Readonly<Record<string, unknown>> | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

interface PgErrorFields {
  readonly code?: unknown
  readonly constraint?: unknown
  readonly message?: unknown
}

/** The `SqlErrorReason` of a PGlite failure: by SQLSTATE for PostgreSQL errors, like `@effect/sql-pg`. */
export const classifyError = (cause: unknown, operation: string): SqlError.SqlErrorReason => {
  const fields: PgErrorFields = typeof cause === "object" && cause !== null ? cause : {}
  const code = typeof fields.code === "string" ? fields.code : undefined
  const detail = typeof fields.message === "string" ? fields.message : String(cause)
  const props = { cause, message: `PgliteClient: ${detail}`, operation }
  if (code === undefined) {
    return /closed|not ready|ExitStatus/i.test(detail)
      ? new SqlError.ConnectionError(props)
      : new SqlError.UnknownError(props)
  }
  if (code.startsWith("08")) return new SqlError.ConnectionError(props)
  if (code.startsWith("28")) return new SqlError.AuthenticationError(props)
  if (code === "42501") return new SqlError.AuthorizationError(props)
  if (code.startsWith("42")) return new SqlError.SqlSyntaxError(props)
  if (code === "23505") {
    const constraint = typeof fields.constraint === "string" && fields.constraint.trim() !== ""
      ? fields.constraint.trim()
      : "unknown"
    return new SqlError.UniqueViolation({ ...props, constraint })
  }
  if (code.startsWith("23")) return new SqlError.ConstraintError(props)
  if (code === "40P01") return new SqlError.DeadlockError(props)
  if (code === "40001") return new SqlError.SerializationError(props)
  if (code === "55P03") return new SqlError.LockTimeoutError(props)
  if (code === "57014") return new SqlError.StatementTimeoutError(props)
  return new SqlError.UnknownError(props)
}

const sqlError = (cause: unknown, operation: string) => new SqlError.SqlError({ reason: classifyError(cause, operation) })

// ---------------------------------------------------------------------------------------------------------------
// Values: parameters in, rows out
// ---------------------------------------------------------------------------------------------------------------

const OID = PgTypes.OID
const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

interface TypedParameter {
  readonly oid: number
  readonly value: unknown
}

const typed = (oid: number, value: unknown): TypedParameter => ({ oid, value })

/** The type `@effect/sql-pg` binds a scalar with (0: untyped, PostgreSQL infers it). */
const typeScalar = (value: unknown): TypedParameter => {
  if (PgTypes.isParameter(value)) return typed(value.oid, value.value)
  if (value === null || value === undefined) return typed(0, null)
  switch (typeof value) {
    case "boolean":
      return typed(OID.bool, value)
    case "bigint":
      return typed(OID.int8, value)
    case "number":
      if (Number.isInteger(value)) {
        if (value >= INT32_MIN && value <= INT32_MAX) return typed(OID.int4, value)
        if (Number.isSafeInteger(value)) return typed(OID.int8, BigInt(value))
      }
      return typed(OID.float8, value)
    case "string":
      return typed(0, value)
  }
  if (value instanceof Date) return typed(OID.timestamptz, value)
  if (value instanceof Uint8Array) return typed(OID.bytea, value)
  throw new TypeError(`Cannot infer a PostgreSQL type for ${String(value)}`)
}

const typeParameter = (value: unknown): TypedParameter => {
  if (!Array.isArray(value)) return typeScalar(value)
  if (value.length === 0) return typed(0, "{}")
  let elementOid: number | undefined
  const values: Array<unknown> = []
  for (const element of value) {
    if (Array.isArray(element)) throw new TypeError("Nested array parameters are not supported")
    const parameter = typeScalar(element)
    if (parameter.value === null) {
      values.push(null)
      continue
    }
    // a string alone binds untyped, an array of strings is text[]
    const oid = parameter.oid === 0 ? OID.text : parameter.oid
    if (elementOid === undefined) elementOid = oid
    else if (elementOid !== oid) throw new TypeError("Array parameter elements must have the same type")
    values.push(parameter.value)
  }
  if (elementOid === undefined) throw new TypeError("Cannot infer the type of an array containing only null values")
  const arrayOid = PgTypes.arrayOidFor(elementOid)
  if (arrayOid === undefined) throw new TypeError(`No array type known for element type ${elementOid}`)
  return typed(arrayOid, values)
}

const bindParameters = (params: ReadonlyArray<unknown>) => {
  const types: Array<number> = new Array(params.length)
  const values: Array<unknown> = new Array(params.length)
  for (let i = 0; i < params.length; i++) {
    const parameter = typeParameter(params[i])
    types[i] = parameter.oid
    values[i] = parameter.value
  }
  return { types, values }
}

const pad = (n: number | bigint, width: number) => String(n).padStart(width, "0")

const TIMESTAMP =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/

/** A timestamp(tz) in PostgreSQL's ISO output, to a `Date` truncated to milliseconds; infinities are invalid dates. */
export const parseTimestamp = (text: string): Date => {
  const m = TIMESTAMP.exec(text)
  if (m === null) return new Date(text === "infinity" || text === "-infinity" ? Number.NaN : text)
  const year = m[12] === undefined ? Number(m[1]) : 1 - Number(m[1])
  const date = new Date(0)
  date.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]))
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3)))
  if (m[8] !== undefined) {
    const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * (m[8] === "-" ? -1 : 1)
    date.setTime(date.getTime() - offset * 1000)
  }
  return date
}

/** `time` → microseconds since midnight. */
const parseTime = (text: string): bigint => {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text)
  if (m === null) return BigInt(0)
  const seconds = BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]))
  return seconds * BigInt(1_000_000) + BigInt((m[4] ?? "").padEnd(6, "0"))
}

const formatTime = (value: unknown): string => {
  if (typeof value !== "bigint") return String(value)
  const micros = Number(value)
  const seconds = Math.floor(micros / 1_000_000)
  return `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}.${
    pad(micros % 1_000_000, 6)
  }`
}

export interface Interval {
  readonly months: number
  readonly days: number
  readonly microseconds: bigint
}

/** An interval in PostgreSQL's default output style (`1 year 2 mons -3 days +04:05:06.5`). */
export const parseInterval = (text: string): Interval => {
  let months = 0
  let days = 0
  let microseconds = BigInt(0)
  for (const [, n, unit] of text.matchAll(/([+-]?\d+) (year|mon|day)s?/g)) {
    const value = Number(n)
    if (unit === "year") months += value * 12
    else if (unit === "mon") months += value
    else days += value
  }
  const time = /([+-])?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text)
  if (time !== null) {
    const seconds = BigInt(Number(time[2]) * 3600 + Number(time[3]) * 60 + Number(time[4]))
    const magnitude = seconds * BigInt(1_000_000) + BigInt((time[5] ?? "").padEnd(6, "0"))
    microseconds = time[1] === "-" ? -magnitude : magnitude
  }
  return { months, days, microseconds }
}

const formatInterval = (value: unknown): string => {
  if (typeof value !== "object" || value === null) return String(value)
  const { days, microseconds, months } = value as Interval
  return `${months} mons ${days} days ${microseconds} microseconds`
}

/** Row parsers by type OID, where PGlite's own differ from what `@effect/sql-pg` returns. */
export const parsers: NonNullable<PGliteOptions["parsers"]> = {
  [OID.int8]: (x) => BigInt(x),
  [OID.timestamptz]: parseTimestamp,
  [OID.timestamp]: (x) => parseTimestamp(/[+-]\d{2}(:?\d{2})?$|Z$/.test(x) ? x : `${x}+00`),
  [OID.date]: (x) => x,
  [OID.time]: parseTime,
  [OID.interval]: parseInterval
}

/** Parameter serializers PGlite lacks for values `@effect/sql-pg` accepts. */
export const serializers: NonNullable<PGliteOptions["serializers"]> = {
  [OID.time]: formatTime,
  [OID.interval]: formatInterval
}

// ---------------------------------------------------------------------------------------------------------------
// Opening the database
// ---------------------------------------------------------------------------------------------------------------

/** A dump of a fresh data directory, taken from the first in-memory database of the process. */
let initializedDataDir: Promise<Blob | File> | undefined

const createPglite = async (options: PgliteClientOptions): Promise<PGlite> => {
  const base: PGliteOptions = {
    parsers,
    serializers,
    ...(options.debug !== undefined ? { debug: options.debug } : {})
  }
  if (options.dataDir !== undefined) return PGlite.create(options.dataDir, base)
  if (options.loadDataDir !== undefined) return PGlite.create({ ...base, loadDataDir: options.loadDataDir })
  if (options.reuseInitializedDataDir === false) return PGlite.create(base)
  const template = initializedDataDir
  if (template !== undefined) {
    const dump = await template.catch(() => undefined)
    if (dump !== undefined) return PGlite.create({ ...base, loadDataDir: dump })
  }
  const pglite = await PGlite.create(base)
  if (initializedDataDir === undefined || initializedDataDir === template) {
    const dump = pglite.dumpDataDir("none")
    initializedDataDir = dump
    // a failed dump only costs later databases their shortcut
    await dump.catch(() => {
      if (initializedDataDir === dump) initializedDataDir = undefined
    })
  }
  return pglite
}

/**
 * Opens a PGlite database for the lifetime of the scope. It is closed when the scope closes, once `semaphore` (if
 * given: the session's) is free. A data directory is locked first (`DataDirLock`): while this scope is open no
 * other process (nor this one) can open it, and a second opener fails with `DataDirLocked`.
 */
export const open = (
  options: PgliteClientOptions = {},
  semaphore?: Semaphore.Semaphore
): Effect.Effect<PGlite, SqlError.SqlError | DataDirLocked | DataDirUnavailable, Scope.Scope> =>
  Effect.andThen(
    // released after the database is closed (finalizers run in reverse)
    options.dataDir === undefined ? Effect.void : DataDirLock.acquire(options.dataDir),
    openPglite(options, semaphore)
  )

const openPglite = (options: PgliteClientOptions, semaphore: Semaphore.Semaphore | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => createPglite(options),
      catch: (cause) =>
        new SqlError.SqlError({
          reason: new SqlError.ConnectionError({
            cause,
            message: `PgliteClient: cannot open the database${options.dataDir === undefined ? "" : ` in ${options.dataDir}`}`,
            operation: "connect"
          })
        })
    }),
    (pglite) => {
      const close = Effect.promise(() => pglite.close().catch(() => undefined))
      return semaphore === undefined ? close : semaphore.withPermit(close)
    }
  )

// ---------------------------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------------------------

type RowMode = "object" | "array"

/**
 * A `PgliteClient` over an open PGlite instance (not closed by the client; see `make` for one that owns its
 * database). Every statement and transaction of the instance should go through this client (or `withSession`).
 */
export const fromPglite = (pglite: PGlite, options: PgliteClientOptions = {}) =>
  Effect.flatMap(Semaphore.make(1), (semaphore) => makeClient(pglite, semaphore, options))

const makeClient = Effect.fnUntraced(function*(pglite: PGlite, semaphore: Semaphore.Semaphore, options: PgliteClientOptions) {
  const attempt = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, SqlError.SqlError> =>
    // a statement, once sent, runs to its end even if its fiber is interrupted: the session is not released early
    Effect.uninterruptible(Effect.tryPromise({ try: f, catch: (cause) => sqlError(cause, operation) }))

  const run = (sql: string, params: ReadonlyArray<unknown>, rowMode: RowMode): Effect.Effect<Results<any>, SqlError.SqlError> =>
    Effect.suspend(() => {
      let bound: ReturnType<typeof bindParameters>
      try {
        bound = bindParameters(params)
      } catch (cause) {
        return Effect.fail(sqlError(cause, "bind"))
      }
      return attempt("execute", () => pglite.query(sql, bound.values, { rowMode, paramTypes: bound.types }))
    })

  /** Simple-protocol execution (several statements allowed); the rows of the last one. */
  const runUnprepared = (sql: string, params: ReadonlyArray<unknown>, rowMode: RowMode) =>
    params.length > 0
      ? Effect.map(run(sql, params, rowMode), (r) => r.rows)
      : Effect.map(attempt("execute", () => pglite.exec(sql, { rowMode })), (results) => results.at(-1)?.rows ?? [])

  const transform = (
    rows: Effect.Effect<ReadonlyArray<any>, SqlError.SqlError>,
    transformRows: (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) => transformRows === undefined ? rows : Effect.map(rows, transformRows)

  const connection: SqlConnection.Connection = {
    execute: (sql, params, transformRows) => transform(Effect.map(run(sql, params, "object"), (r) => r.rows), transformRows),
    executeRaw: (sql, params) => run(sql, params, "object"),
    executeStream: (sql, params, transformRows) =>
      Stream.unwrap(
        Effect.map(
          transform(Effect.map(run(sql, params, "object"), (r) => r.rows), transformRows),
          (rows) => Stream.fromIterable(rows)
        )
      ),
    executeValues: (sql, params) => Effect.map(run(sql, params, "array"), (r) => r.rows),
    executeValuesUnprepared: (sql, params) => runUnprepared(sql, params, "array"),
    executeUnprepared: (sql, params, transformRows) => transform(runUnprepared(sql, params, "object"), transformRows)
  }

  const acquirers = SqlClient.makeSqliteAcquirers({
    connection: Effect.succeed(connection),
    semaphore,
    isTransaction: () => !pglite.closed && pglite.isInTransaction()
  })

  const withSession = <A>(f: (pglite: PGlite) => Promise<A>) => semaphore.withPermit(attempt("session", () => f(pglite)))

  const client = yield* SqlClient.make({
    ...acquirers,
    compiler: PgClient.makeCompiler(),
    driver: "pglite",
    // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK
    commit: (conn) =>
      Effect.flatMap(conn.executeRaw("COMMIT", []), (result) =>
        (result as Results).command === "ROLLBACK"
          ? Effect.fail(
            new SqlError.SqlError({
              reason: new SqlError.UnknownError({
                cause: new Error("COMMIT rolled back an aborted transaction"),
                message: "PgliteClient: COMMIT rolled back an aborted transaction",
                operation: "commit"
              })
            })
          )
          : Effect.void),
    releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
    spanAttributes: [
      ...Object.entries(options.spanAttributes ?? {}),
      ["db.system.name", "postgresql"],
      ["db.namespace", options.dataDir ?? "memory"]
    ]
  })

  const listen = (channel: string) =>
    Effect.gen(function*() {
      const payloads = yield* Queue.unbounded<string, SqlError.SqlError>()
      const onPayload = (payload: string) => {
        Queue.offerUnsafe(payloads, payload)
      }
      // quoted, so that the channel name is taken as is (PGlite runs `LISTEN <channel>` unquoted otherwise)
      const quoted = `"${channel.replace(/"/g, "\"\"")}"`
      yield* Effect.acquireRelease(
        withSession((pg) => pg.listen(quoted, onPayload)),
        () => withSession((pg) => pg.unlisten(quoted, onPayload)).pipe(Effect.ignore)
      )
      return payloads as Queue.Dequeue<string, SqlError.SqlError>
    })

  const notify = (channel: string, payload: string) =>
    Effect.asVoid(client`SELECT pg_notify(${channel}, ${payload})`)

  return Object.assign(client, { [TypeId]: TypeId, pglite, listen, notify, withSession }) as PgliteClient
})

/** Applies `settings` to the session (`SET name = value`). */
const applySettings = (client: PgliteClient, settings: Readonly<Record<string, string>> | undefined) =>
  Effect.forEach(
    Object.entries(settings ?? {}),
    ([name, value]) => client.unsafe(`SELECT set_config($1, $2, false)`, [name, value]),
    { discard: true }
  )

/** Opens a database (closed with the scope) and builds its client. */
export const make = (
  options: PgliteClientOptions = {}
): Effect.Effect<PgliteClient, SqlError.SqlError | DataDirLocked | DataDirUnavailable, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const semaphore = yield* Semaphore.make(1)
    const pglite = yield* open(options, semaphore)
    const client = yield* makeClient(pglite, semaphore, options)
    yield* applySettings(client, options.settings)
    return client
  })

/** `PgliteClient` and `SqlClient` over a database opened when the layer is built and closed when it is released. */
export const layer = (
  options: PgliteClientOptions = {}
): Layer.Layer<PgliteClient | SqlClient.SqlClient, SqlError.SqlError | DataDirLocked | DataDirUnavailable> =>
  Layer.effectContext(
    Effect.map(make(options), (client) => Context.make(PgliteClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))

/** The `NotificationSource` of the embedded database: PGlite's own listen API. */
export const notificationSourceLayer: Layer.Layer<NotificationSource, never, PgliteClient> = Layer.effect(
  NotificationSource,
  Effect.map(PgliteClient, (client) => NotificationSource.of({ listen: client.listen }))
)
