/**
 * The data directory lock, in one process: the lock file names its owner and is removed on release; a second
 * opening (here: in the same process) is refused with `DataDirLocked`; stale locks are taken over (a dead PID, this
 * process's own PID left by an earlier incarnation, an unreadable file, a lock from another host that has not been
 * refreshed) with a warning, and a fresh lock from another host is respected. Two real processes on one directory
 * are in test/cli/DataDirLock.test.ts.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Scope } from "effect"
import * as DataDirLock from "../../src/db/DataDirLock.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "tasker-lock-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const lockFile = (dir: string) => join(dir, DataDirLock.LOCK_FILE)
const readOwner = (dir: string) => JSON.parse(readFileSync(lockFile(dir), "utf8")) as DataDirLock.LockOwner

/** A PID that no process has: a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!

const writeLock = (dir: string, owner: Partial<DataDirLock.LockOwner>, ageMs = 0) => {
  writeFileSync(
    lockFile(dir),
    JSON.stringify({ pid: 1, hostname: hostname(), started_at: "2026-01-01T00:00:00.000Z", token: "theirs", ...owner })
  )
  const at = new Date(Date.now() - ageMs)
  utimesSync(lockFile(dir), at, at)
}

/** Takes the lock in a scope of its own, returning the warnings logged; the caller closes the scope. */
const acquireIn = (dir: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const warnings: Array<string> = []
    const capture = Logger.make((o) => {
      if (o.logLevel === "Warn") warnings.push(String(o.message))
    })
    const exit = yield* DataDirLock.acquire(dir).pipe(
      Scope.provide(scope),
      Effect.provide(Logger.layer([capture])),
      Effect.exit
    )
    return { exit, warnings, scope }
  })

describe("DataDirLock", () => {
  it.live("creates the directory and a lock file naming this process, removed on release", () =>
    Effect.gen(function*() {
      const dir = join(yield* tempDir, "a", "b")
      const { exit, scope, warnings } = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(warnings, [])
      const owner = readOwner(dir)
      assert.strictEqual(owner.pid, process.pid)
      assert.strictEqual(owner.hostname, hostname())
      assert.isFalse(Number.isNaN(Date.parse(owner.started_at)))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(existsSync(lockFile(dir)), "released with the scope")
      // and it can be taken again
      const again = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(again.exit))
      yield* Scope.close(again.scope, Exit.void)
    }).pipe(Effect.scoped))

  it.live("refuses a second opening while the first holds it, naming the directory and the owner", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(first.exit))
      const second = yield* acquireIn(dir)
      const failure = yield* Effect.flip(second.exit)
      assert.strictEqual(failure._tag, "DataDirLocked")
      assert.include(failure.message, `the data directory ${dir} is already open in this process (pid ${process.pid})`)
      assert.strictEqual(readOwner(dir).pid, process.pid, "the holder's file is untouched")
      yield* Scope.close(second.scope, Exit.void)
      assert.isTrue(existsSync(lockFile(dir)), "a refused opener removes nothing")
      yield* Scope.close(first.scope, Exit.void)
    }).pipe(Effect.scoped))

  it.live("respects a live process's lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // the parent of this process is alive
      writeLock(dir, { pid: process.ppid, started_at: "2026-02-03T04:05:06.000Z" })
      const { exit, scope } = yield* acquireIn(dir)
      const failure = yield* Effect.flip(exit)
      assert.strictEqual(failure._tag, "DataDirLocked")
      assert.strictEqual(
        failure.message,
        `the data directory ${dir} is in use by another process: pid ${process.ppid} on host ${hostname()}, since ` +
          `2026-02-03T04:05:06.000Z; stop that process or use another data directory (if no such process runs, ` +
          `delete ${lockFile(dir)})`
      )
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(readOwner(dir).token, "theirs")
    }).pipe(Effect.scoped))

  it.live("takes over a lock whose process is gone, with a warning", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const pid = deadPid()
      writeLock(dir, { pid })
      const { exit, scope, warnings } = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(readOwner(dir).pid, process.pid)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0]!, `took over the stale lock of the data directory ${dir}: it was held by pid ${pid}`)
      assert.include(warnings[0]!, `no process has pid ${pid} any more`)
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(existsSync(lockFile(dir)))
    }).pipe(Effect.scoped))

  it.live("takes over this process's own PID left by an earlier process (a container's PID 1), and an unreadable lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      writeLock(dir, { pid: process.pid })
      const own = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(own.exit))
      assert.include(own.warnings[0]!, "is this process, which does not hold the lock")
      yield* Scope.close(own.scope, Exit.void)

      writeFileSync(lockFile(dir), "")
      const past = new Date(Date.now() - 60_000)
      utimesSync(lockFile(dir), past, past)
      const unreadable = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(unreadable.exit))
      assert.include(unreadable.warnings[0]!, "its lock file was unreadable")
      assert.strictEqual(readOwner(dir).pid, process.pid)
      yield* Scope.close(unreadable.scope, Exit.void)
    }).pipe(Effect.scoped))

  it.live("another host's lock: respected while refreshed, taken over once it is not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      writeLock(dir, { hostname: "elsewhere", pid: 4242 })
      const fresh = yield* acquireIn(dir)
      const failure = yield* Effect.flip(fresh.exit)
      assert.include(failure.message, "pid 4242 on host elsewhere")
      yield* Scope.close(fresh.scope, Exit.void)

      writeLock(dir, { hostname: "elsewhere", pid: 4242 }, DataDirLock.FOREIGN_STALE_AFTER_MS + 5_000)
      const stale = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(stale.exit))
      assert.include(stale.warnings[0]!, "host elsewhere")
      assert.include(stale.warnings[0]!, "it has not been refreshed for")
      yield* Scope.close(stale.scope, Exit.void)
    }).pipe(Effect.scoped))

  it.live("does not remove a lock file that is no longer its own", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { exit, scope } = yield* acquireIn(dir)
      assert.isTrue(Exit.isSuccess(exit))
      // an operator deleted it and another process took it
      writeLock(dir, { pid: process.ppid, token: "someone else" })
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(readOwner(dir).token, "someone else")
    }).pipe(Effect.scoped))

  it.live("a directory that cannot be created is DataDirUnavailable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      writeFileSync(join(dir, "file"), "")
      const { exit, scope } = yield* acquireIn(join(dir, "file", "data"))
      const failure = yield* Effect.flip(exit)
      assert.strictEqual(failure._tag, "DataDirUnavailable")
      assert.match(failure.message, /^cannot lock the data directory .*file\/data: ENOTDIR/)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped))
})
