/**
 * `DATABASE_URL` without a user (`postgres://host:5432/db`, the README's form), with `$USER` unset as under systemd
 * or in a container: the CLI connects as `PGUSER`, else as the operating-system user (libpq's order), and when
 * neither names one (a UID without a passwd entry) it stops with one line and exit code 2, no stack trace. The
 * resolution itself is unit-tested in test/db/ConnectionUser.test.ts.
 */
import { readFileSync } from "node:fs"
import { userInfo } from "node:os"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminUrl } from "../support/TestDatabase.ts"
import { databases, run, start } from "./Support.ts"

const dbs = databases()
let urlWithoutUser = ""
const adminUser = decodeURIComponent(new URL(adminUrl).username)

/** No variable that names a user. */
const noUserEnv = { USER: undefined, LOGNAME: undefined, USERNAME: undefined, PGUSER: undefined }

/** A user ID without a passwd entry (a container run with `--user 54321`). */
const namelessUid = () => {
  const taken = new Set(readFileSync("/etc/passwd", "utf8").split("\n").map((l) => Number(l.split(":")[2])))
  let uid = 54321
  while (taken.has(uid)) uid++
  return uid
}

const isRoot = process.getuid?.() === 0

beforeAll(async () => {
  const url = new URL(await dbs.create())
  url.username = ""
  url.password = ""
  urlWithoutUser = url.toString()
}, 60_000)

afterAll(() => dbs.release(), 60_000)

describe("DATABASE_URL without a user", () => {
  it("connects as PGUSER when $USER is unset (serve and migrate)", async () => {
    expect(urlWithoutUser).toMatch(/^postgres(ql)?:\/\/127\.0\.0\.1:\d+\//)
    const env = { ...noUserEnv, PGUSER: adminUser, DATABASE_URL: urlWithoutUser }
    const migrated = await run(["migrate"], { env })
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout).toContain("applied 0001_registry")

    const server = start(["serve", "--port", "0"], { env, timeout: 120_000 })
    try {
      const url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1]!
      expect((await fetch(`${url}/ready`)).status).toBe(200)
    } finally {
      const stopped = await server.stop("SIGTERM")
      expect(stopped.code, stopped.stderr).toBe(0)
    }
  }, 120_000)

  it.skipIf(userInfo().username !== adminUser)("connects as the operating-system user without PGUSER", async () => {
    const migrated = await run(["migrate"], { env: { ...noUserEnv, DATABASE_URL: urlWithoutUser } })
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout).toContain("database is up to date")
  }, 60_000)

  it.skipIf(!isRoot)("a UID without a name: one line naming what to set, exit 2; with PGUSER it connects", async () => {
    const uid = namelessUid()
    const failed = await run(["migrate"], { env: { ...noUserEnv, DATABASE_URL: urlWithoutUser }, uid })
    expect(failed.code).toBe(2)
    const lines = failed.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /^tasker: DATABASE_URL: the PostgreSQL URL names no user, PGUSER is not set and the operating-system user is unknown \(os\.userInfo\(\): .+\): put the user in the URL \(postgres:\/\/USER@host:5432\/database\) or set PGUSER$/
    )
    expect(failed.stderr).not.toMatch(/^\s+at /m)

    const withPgUser = await run(["migrate"], {
      env: { ...noUserEnv, PGUSER: adminUser, DATABASE_URL: urlWithoutUser },
      uid
    })
    expect(withPgUser.code, withPgUser.stderr).toBe(0)
    expect(withPgUser.stdout).toContain("database is up to date")
  }, 60_000)
})
