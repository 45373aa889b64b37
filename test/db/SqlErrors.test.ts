/**
 * The classification of database failures against a real server: a database that refuses connections
 * (`ALLOW_CONNECTIONS false`: SQLSTATE 55000 at connection) is a connection failure, so transient (the API's 503,
 * not a 500), while the same SQLSTATE inside a session (`currval` before `nextval`) is not.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlError } from "effect/sql"
import { connectionErrorType, isTransient } from "../../src/db/SqlErrors.ts"
import { adminUrl, freshDatabase } from "../support/TestDatabase.ts"

const client = (url: string) =>
  PgClient.makeClient({ url: Redacted.make(url) }).pipe(Effect.provide(Reactivity.layer))

describe("SQL error classification", () => {
  it.effect("a database refusing connections is transient; 55000 inside a session is not", () =>
    Effect.gen(function*() {
      const { name, url } = yield* freshDatabase
      const admin = yield* client(adminUrl)
      yield* admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`).unprepared
      const refused = yield* Effect.flip(Effect.flatMap(client(url), (sql) => sql`SELECT 1`))
      assert.isTrue(SqlError.isSqlError(refused))
      assert.strictEqual(connectionErrorType(refused), "55000")
      assert.isTrue(isTransient(refused))
      yield* admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).unprepared

      yield* admin.unsafe(`CREATE SEQUENCE IF NOT EXISTS tasker_test_seq_${name}`).unprepared
      const inSession = yield* Effect.flip(admin.unsafe(`SELECT currval('tasker_test_seq_${name}')`).unprepared)
      assert.strictEqual(connectionErrorType(inSession), undefined)
      assert.isFalse(isTransient(inSession))
      yield* admin.unsafe(`DROP SEQUENCE tasker_test_seq_${name}`).unprepared
    }).pipe(Effect.scoped), 60_000)
})
