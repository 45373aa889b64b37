/**
 * The lock of an embedded database's data directory: one process at a time opens a directory. Two PGlite
 * instances on the same files each keep their own copy of the database in memory and overwrite each other's
 * writes, so a second opener must fail instead.
 *
 * The lock is a file in the data directory, `tasker.lock`, created exclusively (`O_EXCL`) and holding its owner:
 * `{"pid", "hostname", "started_at", "token"}`. It is removed when the scope that took it closes (a clean
 * shutdown). A lock left behind by a process that died is stale and taken over, with a warning:
 *
 * - on the same host, when no process has the owner's PID any more (or the PID is this process's own and this
 *   process does not hold the lock: a container's PID 1 after a restart);
 * - from another host (a shared volume), when the owner has not refreshed the file's modification time for
 *   `FOREIGN_STALE_AFTER_MS`: the owner touches it every `REFRESH_INTERVAL_MS`.
 *
 * A live lock is a `DataDirLocked` failure naming the directory and the owner. A directory opened twice in the
 * same process is refused too.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import { hostname } from "node:os"
import * as path from "node:path"
import { Duration, Effect, Option, Schedule, Schema, type Scope } from "effect"

/** The lock file's name inside the data directory. */
export const LOCK_FILE = "tasker.lock"

/** How often the owner touches its lock file. */
export const REFRESH_INTERVAL_MS = 10_000

/** A lock written on another host is stale when it has not been touched for this long. */
export const FOREIGN_STALE_AFTER_MS = 30_000

/** What the lock file holds. */
export const LockOwner = Schema.Struct({
  pid: Schema.Int,
  hostname: Schema.String,
  started_at: Schema.String,
  token: Schema.String
})
export type LockOwner = typeof LockOwner.Type

const decodeOwner = Schema.decodeUnknownOption(Schema.fromJsonString(LockOwner))

/** The data directory is locked by a live process (or already open in this one). */
export class DataDirLocked extends Schema.TaggedError<DataDirLocked>()("DataDirLocked", {
  dataDir: Schema.String,
  pid: Schema.Number,
  hostname: Schema.String,
  startedAt: Schema.String,
  /** the owner is this very process (the directory is open already) */
  thisProcess: Schema.Boolean
}) {
  override get message(): string {
    if (this.thisProcess) {
      return `the data directory ${this.dataDir} is already open in this process (pid ${this.pid}), since ` +
        `${this.startedAt}; build its layer once and share it`
    }
    return `the data directory ${this.dataDir} is in use by another process: pid ${this.pid} on host ` +
      `${this.hostname}, since ${this.startedAt}; stop that process or use another data directory (if no such ` +
      `process runs, delete ${path.join(this.dataDir, LOCK_FILE)})`
  }
}

/** The data directory cannot be created or its lock file cannot be written (permissions, a file in the way, …). */
export class DataDirUnavailable extends Schema.TaggedError<DataDirUnavailable>()("DataDirUnavailable", {
  dataDir: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const detail = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `cannot lock the data directory ${this.dataDir}: ${detail}`
  }
}

/** Lock files this process holds (by real path): a second opening in the same process is refused. */
const held = new Set<string>()

/** Whether a process with this PID exists on this host (EPERM: it exists, owned by another user). */
const pidAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** The lock file's owner and modification time; `undefined` when it is gone. */
const readLock = (file: string): { readonly owner: Option.Option<LockOwner>; readonly mtimeMs: number } | undefined => {
  try {
    const mtimeMs = fs.statSync(file).mtimeMs
    return { owner: decodeOwner(fs.readFileSync(file, "utf8")), mtimeMs }
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined
    throw e
  }
}

/** Why a lock is stale (a log line), or `undefined` when its owner is alive. */
const staleness = (owner: LockOwner, mtimeMs: number, now: number): string | undefined => {
  if (owner.hostname === hostname()) {
    if (owner.pid === process.pid) return `pid ${owner.pid} is this process, which does not hold the lock`
    return pidAlive(owner.pid) ? undefined : `no process has pid ${owner.pid} any more`
  }
  const idle = now - mtimeMs
  return idle < FOREIGN_STALE_AFTER_MS ? undefined : `it has not been refreshed for ${Math.round(idle / 1000)} s`
}

type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held"; readonly owner: LockOwner }
  /** `previous`: whose lock it was and why it was stale, for the log line */
  | { readonly _tag: "TookOver"; readonly previous: string }
  | { readonly _tag: "Retry" }

/** Moves a stale lock file aside and removes it, unless it changed hands meanwhile (then it is put back). */
const removeStale = (file: string, stale: Option.Option<LockOwner>): boolean => {
  const aside = `${file}.stale-${process.pid}-${randomUUID()}`
  try {
    fs.renameSync(file, aside)
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return false
    throw e
  }
  const moved = readLock(aside)?.owner ?? Option.none()
  const same = Option.isSome(stale)
    ? Option.isSome(moved) && moved.value.token === stale.value.token
    : Option.isNone(moved)
  if (!same) {
    // another process took the stale lock over between our read and the rename: give its file back
    try {
      fs.linkSync(aside, file)
    } catch {
      // a third one holds it now; either way the lock is not ours
    }
  }
  fs.rmSync(aside, { force: true })
  return same
}

/** One try at creating the lock file (or taking over a stale one). */
const attempt = (file: string, me: LockOwner): Attempt => {
  try {
    fs.writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: "wx" })
    return { _tag: "Acquired" }
  } catch (e) {
    if (errnoOf(e) !== "EEXIST") throw e
  }
  const existing = readLock(file)
  if (existing === undefined) return { _tag: "Retry" }
  const now = Date.now()
  if (Option.isNone(existing.owner)) {
    // being written right now, or left unreadable by a crash: wait for a writer to finish before taking it over
    if (now - existing.mtimeMs < 2_000) return { _tag: "Retry" }
    return removeStale(file, existing.owner)
      ? attemptAfterTakeOver(file, me, "its lock file was unreadable (a process died while writing it)")
      : { _tag: "Retry" }
  }
  const owner = existing.owner.value
  const why = staleness(owner, existing.mtimeMs, now)
  if (why === undefined) return { _tag: "Held", owner }
  return removeStale(file, existing.owner)
    ? attemptAfterTakeOver(file, me, `it was held by pid ${owner.pid} on host ${owner.hostname} since ${owner.started_at}, and ${why}`)
    : { _tag: "Retry" }
}

const attemptAfterTakeOver = (file: string, me: LockOwner, previous: string): Attempt => {
  const next = attempt(file, me)
  return next._tag === "Acquired" ? { _tag: "TookOver", previous } : next
}

const lockedError = (dataDir: string, owner: LockOwner, thisProcess: boolean) =>
  new DataDirLocked({ dataDir, pid: owner.pid, hostname: owner.hostname, startedAt: owner.started_at, thisProcess })

/**
 * Takes the lock of `dataDir` (created if missing) for the lifetime of the scope, and keeps refreshing it. Fails
 * with `DataDirLocked` when a live process holds it, `DataDirUnavailable` when the directory or the lock file
 * cannot be written.
 */
export const acquire = (dataDir: string): Effect.Effect<void, DataDirLocked | DataDirUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const unavailable = (cause: unknown) => new DataDirUnavailable({ dataDir, cause })
    const file = yield* Effect.try({
      try: () => {
        fs.mkdirSync(dataDir, { recursive: true })
        return path.join(fs.realpathSync(dataDir), LOCK_FILE)
      },
      catch: unavailable
    })
    const me: LockOwner = {
      pid: process.pid,
      hostname: hostname(),
      started_at: new Date().toISOString(),
      token: randomUUID()
    }
    const take = Effect.suspend((): Effect.Effect<Attempt, DataDirLocked | DataDirUnavailable> => {
      if (held.has(file)) {
        const owner = readLock(file)?.owner
        return Effect.fail(lockedError(dataDir, owner !== undefined && Option.isSome(owner) ? owner.value : me, true))
      }
      return Effect.try({ try: () => attempt(file, me), catch: unavailable })
    })
    let outcome = yield* take
    for (let retries = 0; outcome._tag === "Retry"; retries++) {
      if (retries >= 50) return yield* unavailable(new Error(`${file} keeps changing; another process is starting?`))
      yield* Effect.sleep(Duration.millis(100))
      outcome = yield* take
    }
    if (outcome._tag === "Held") return yield* lockedError(dataDir, outcome.owner, false)
    if (outcome._tag === "TookOver") {
      yield* Effect.logWarning(`took over the stale lock of the data directory ${dataDir}: ${outcome.previous}`)
    }
    held.add(file)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        held.delete(file)
        try {
          const current = readLock(file)?.owner
          if (current !== undefined && Option.isSome(current) && current.value.token === me.token) fs.rmSync(file)
        } catch {
          // nothing to release: the file is gone or unreadable
        }
      })
    )
    // a lock seen from another host is judged by its modification time
    yield* Effect.try(() => {
      const now = new Date()
      fs.utimesSync(file, now, now)
    }).pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(Duration.millis(REFRESH_INTERVAL_MS))),
      Effect.forkScoped
    )
  })
