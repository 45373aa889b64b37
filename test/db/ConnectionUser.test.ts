/**
 * The user of a PostgreSQL URL, found as libpq finds it: the URL's own (`user@` or `?user=`), else `PGUSER`, else
 * the operating-system user; `DatabaseUserMissing` (one line saying what to set) when none gives one. The CLI runs
 * with such URLs in test/cli/DatabaseUser.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Result } from "effect"
import { connectionUser, DatabaseUserMissing, resolveConnectionUser, type UserSources } from "../../src/db/ConnectionUser.ts"

const os = (name: string): UserSources["osUser"] => () => name
const noPasswdEntry: UserSources["osUser"] = () => {
  throw new Error("ENOENT: no such file or directory, uv_os_get_passwd")
}

const resolve = (url: string, pgUser: string | undefined, osUser: UserSources["osUser"] = os("osuser")) =>
  resolveConnectionUser(url, { pgUser, osUser })

describe("resolveConnectionUser", () => {
  it("takes the URL's user first", () => {
    assert.deepStrictEqual(resolve("postgres://ada@localhost:5432/tasker", "pg"), Result.succeed("ada"))
    assert.deepStrictEqual(resolve("postgres://ada:secret@localhost/tasker", "pg"), Result.succeed("ada"))
    assert.deepStrictEqual(resolve("postgresql://a%40b@localhost/tasker", "pg"), Result.succeed("a@b"))
    assert.deepStrictEqual(resolve("postgres://localhost/tasker?user=bob", "pg"), Result.succeed("bob"))
  })

  it("then PGUSER, then the operating-system user (an empty PGUSER counts as unset)", () => {
    assert.deepStrictEqual(resolve("postgres://localhost:5432/tasker", "carol"), Result.succeed("carol"))
    assert.deepStrictEqual(resolve("postgres://localhost:5432/tasker", undefined), Result.succeed("osuser"))
    assert.deepStrictEqual(resolve("postgres://localhost:5432/tasker", ""), Result.succeed("osuser"))
    // the OS user is only asked when needed
    assert.deepStrictEqual(resolve("postgres://localhost/tasker", "carol", noPasswdEntry), Result.succeed("carol"))
  })

  it("fails with one line saying what to set when no source names a user", () => {
    const failed = resolve("postgres://localhost:5432/tasker", undefined, noPasswdEntry)
    assert.isTrue(Result.isFailure(failed))
    const error = Result.isFailure(failed) ? failed.failure : undefined
    assert.instanceOf(error, DatabaseUserMissing)
    assert.strictEqual(
      error!.message,
      "the PostgreSQL URL names no user, PGUSER is not set and the operating-system user is unknown " +
        "(os.userInfo(): ENOENT: no such file or directory, uv_os_get_passwd): put the user in the URL " +
        "(postgres://USER@host:5432/database) or set PGUSER"
    )
    assert.notInclude(error!.message, "\n")
    assert.isTrue(Result.isFailure(resolve("postgres://localhost/tasker", undefined, os(""))))
  })

  it("leaves what is not a URL to the driver", () => {
    assert.deepStrictEqual(resolve("not a url", undefined, noPasswdEntry), Result.succeed(undefined))
  })
})

describe("connectionUser", () => {
  it.effect("reads PGUSER through Config", () =>
    Effect.gen(function*() {
      const user = yield* connectionUser("postgres://localhost/tasker").pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { PGUSER: "from-config" } })))
      )
      assert.strictEqual(user, "from-config")
      assert.strictEqual(yield* connectionUser("postgres://eve@localhost/tasker"), "eve")
    }))
})
