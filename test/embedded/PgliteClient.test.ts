/**
 * The PGlite `SqlClient`: values typed like `@effect/sql-pg`'s, SQLSTATEs classified into `SqlError` reasons,
 * one session shared by concurrent fibers (a transaction keeps the others out until it ends), notifications
 * delivered on commit, and the PostgreSQL features the engine's SQL relies on.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Queue } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { embeddedSqlLayer } from "../../layers/embedded.ts"
import { parseInterval, parseTimestamp, PgliteClient } from "../../src/db/PgliteClient.ts"

const reasonOf = <A, R>(self: Effect.Effect<A, SqlError.SqlError, R>) =>
  Effect.map(Effect.flip(self), (e) => e.reason)

describe("value parsers", () => {
  it("timestamps keep millisecond precision and the offset", () => {
    assert.strictEqual(parseTimestamp("2024-02-29 23:59:58.123456+00").toISOString(), "2024-02-29T23:59:58.123Z")
    assert.strictEqual(parseTimestamp("2024-03-01 05:30:00+05:30").toISOString(), "2024-03-01T00:00:00.000Z")
    assert.strictEqual(parseTimestamp("2024-03-01 00:00:00.5-02").toISOString(), "2024-03-01T02:00:00.500Z")
    assert.strictEqual(parseTimestamp("0099-01-01 00:00:00+00").getUTCFullYear(), 99)
    assert.isNaN(parseTimestamp("infinity").getTime())
  })

  it("intervals in PostgreSQL's output style", () => {
    assert.deepStrictEqual(parseInterval("1 year 2 mons -3 days +04:05:06.5"), {
      months: 14,
      days: -3,
      microseconds: 14_706_500_000n
    })
    assert.deepStrictEqual(parseInterval("-00:00:01"), { months: 0, days: 0, microseconds: -1_000_000n })
    assert.deepStrictEqual(parseInterval("00:00:00"), { months: 0, days: 0, microseconds: 0n })
  })
})

layer(embeddedSqlLayer(), { excludeTestServices: true })("PgliteClient", (it) => {
  it.effect("returns values typed like @effect/sql-pg", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<Record<string, unknown>>`
        SELECT '2024-05-06 07:08:09.123456+00'::timestamptz AS tstz, '2024-05-06 07:08:09'::timestamp AS ts,
               '2024-05-06'::date AS d, 9007199254740993::int8 AS big, count(*) AS n, 42::int4 AS i, 1.5::float8 AS f,
               '12345678901234567890.123'::numeric AS num, '{"a":[1,{"b":null}]}'::jsonb AS j, '[1,2]'::json AS js,
               '0190e6e0-0000-7000-8000-000000000000'::uuid AS u, ARRAY[1,2]::int8[] AS ints,
               ARRAY['0190e6e0-0000-7000-8000-000000000000'::uuid] AS uuids, ARRAY['a', NULL, 'c,"d"'] AS texts,
               ARRAY['2024-01-01 00:00:00+00'::timestamptz] AS stamps, true AS yes, NULL::text AS nothing,
               '01:02:03.5'::time AS t, '1 day 02:00:00'::interval AS iv`
      assert.deepStrictEqual(row!.tstz, new Date("2024-05-06T07:08:09.123Z"))
      assert.deepStrictEqual(row!.ts, new Date("2024-05-06T07:08:09.000Z"))
      assert.strictEqual(row!.d, "2024-05-06")
      assert.strictEqual(row!.big, 9007199254740993n)
      assert.strictEqual(row!.n, 1n)
      assert.strictEqual(row!.i, 42)
      assert.strictEqual(row!.f, 1.5)
      assert.strictEqual(row!.num, "12345678901234567890.123")
      assert.deepStrictEqual(row!.j, { a: [1, { b: null }] })
      assert.deepStrictEqual(row!.js, [1, 2])
      assert.strictEqual(row!.u, "0190e6e0-0000-7000-8000-000000000000")
      assert.deepStrictEqual(row!.ints, [1n, 2n])
      assert.deepStrictEqual(row!.uuids, ["0190e6e0-0000-7000-8000-000000000000"])
      assert.deepStrictEqual(row!.texts, ["a", null, "c,\"d\""])
      assert.deepStrictEqual(row!.stamps, [new Date("2024-01-01T00:00:00.000Z")])
      assert.strictEqual(row!.yes, true)
      assert.strictEqual(row!.nothing, null)
      assert.strictEqual(row!.t, 3_723_500_000n)
      assert.deepStrictEqual(row!.iv, { months: 0, days: 1, microseconds: 7_200_000_000n })
    }))

  it.effect("binds parameters with the types @effect/sql-pg gives them", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const when = new Date("2024-05-06T07:08:09.123Z")
      const [row] = yield* sql<Record<string, unknown>>`
        SELECT pg_typeof(${1})::text AS int4, pg_typeof(${2 ** 40})::text AS int8, pg_typeof(${1.5})::text AS float8,
               pg_typeof(${10n})::text AS bigint, pg_typeof(${true})::text AS bool, pg_typeof(${when})::text AS date,
               pg_typeof(${[1, 2]})::text AS int4s, pg_typeof(${["a"]})::text AS texts,
               ${when} AS echoed, ${2 ** 40} + 1 AS sum, ${"{\"k\":1}"}::jsonb AS j,
               ${["0190e6e0-0000-7000-8000-000000000000"]}::uuid[] AS uuids, ${[]}::uuid[] AS empty,
               ${null}::int AS nul, ${new Uint8Array([1, 255])}::bytea AS bytes`
      assert.deepStrictEqual(
        [row!.int4, row!.int8, row!.float8, row!.bigint, row!.bool, row!.date, row!.int4s, row!.texts],
        ["integer", "bigint", "double precision", "bigint", "boolean", "timestamp with time zone", "integer[]", "text[]"]
      )
      assert.deepStrictEqual(row!.echoed, when)
      assert.strictEqual(row!.sum, 2n ** 40n + 1n)
      assert.deepStrictEqual(row!.j, { k: 1 })
      assert.deepStrictEqual(row!.uuids, ["0190e6e0-0000-7000-8000-000000000000"])
      assert.deepStrictEqual(row!.empty, [])
      assert.strictEqual(row!.nul, null)
      assert.deepStrictEqual(row!.bytes, new Uint8Array([1, 255]))
      const values = yield* sql`SELECT ${1}::int AS a, ${"b"} AS b`.values
      assert.deepStrictEqual(values, [[1, "b"]])
    }))

  it.effect("classifies SQLSTATEs into SqlError reasons", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE errs (id int PRIMARY KEY, v int CHECK (v > 0), ref int REFERENCES errs (id))`
      yield* sql`INSERT INTO errs (id, v) VALUES (1, 1)`
      const unique = yield* reasonOf(sql`INSERT INTO errs (id, v) VALUES (1, 1)`)
      assert.strictEqual(unique._tag, "UniqueViolation")
      if (unique._tag === "UniqueViolation") assert.strictEqual(unique.constraint, "errs_pkey")
      assert.strictEqual((yield* reasonOf(sql`INSERT INTO errs (id, v) VALUES (2, -1)`))._tag, "ConstraintError")
      assert.strictEqual((yield* reasonOf(sql`INSERT INTO errs (id, v, ref) VALUES (3, 1, 99)`))._tag, "ConstraintError")
      assert.strictEqual((yield* reasonOf(sql`INSERT INTO errs (id) VALUES (NULL)`))._tag, "ConstraintError")
      const raise = (code: string) =>
        reasonOf(sql.unsafe(`DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '${code}'; END $$`))
      assert.strictEqual((yield* raise("40001"))._tag, "SerializationError")
      assert.strictEqual((yield* raise("40P01"))._tag, "DeadlockError")
      assert.strictEqual((yield* raise("55P03"))._tag, "LockTimeoutError")
      assert.strictEqual((yield* raise("57014"))._tag, "StatementTimeoutError")
      assert.strictEqual((yield* raise("P0001"))._tag, "UnknownError")
      assert.strictEqual((yield* reasonOf(sql`SELEC 1`))._tag, "SqlSyntaxError")
      const missing = yield* reasonOf(sql`SELECT * FROM no_such_table`)
      assert.strictEqual(missing._tag, "SqlSyntaxError")
      assert.match(String(missing.cause), /no_such_table/)
      // the session is usable after each failure
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM errs`, [{ n: 1 }])
    }))

  it.effect("transactions commit, roll back on failure, and nest with savepoints", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE tx (v text)`
      yield* sql.withTransaction(sql`INSERT INTO tx VALUES ('committed')`)
      yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`INSERT INTO tx VALUES ('rolled back')`, Effect.fail("no"))))
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO tx VALUES ('outer')`
        yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`INSERT INTO tx VALUES ('inner')`, Effect.fail("no"))))
        yield* sql.withTransaction(sql`INSERT INTO tx VALUES ('inner kept')`)
      }))
      const rows = yield* sql<{ v: string }>`SELECT v FROM tx ORDER BY v`
      assert.deepStrictEqual(rows.map((r) => r.v), ["committed", "inner kept", "outer"])
      // a failed statement aborts the transaction: COMMIT fails instead of silently rolling back
      const aborted = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO tx VALUES ('lost')`
        yield* Effect.ignore(sql`SELECT * FROM no_such_table`)
      })))
      assert.strictEqual(aborted._tag, "SqlError")
      assert.strictEqual((yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tx WHERE v = 'lost'`)[0]!.n, 0)
      const client = yield* PgliteClient
      assert.isFalse(client.pglite.isInTransaction())
    }))

  it.effect("a transaction keeps statements of other fibers out until it ends", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE iso (v int)`
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const writer = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO iso VALUES (1)`
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(release)
        yield* sql`INSERT INTO iso VALUES (2)`
        return yield* Effect.fail("roll back")
      })).pipe(Effect.flip, Effect.forkChild)
      yield* Deferred.await(inside)
      // concurrent readers wait for the transaction: they never see its uncommitted rows, nor run inside it
      const readers = yield* Effect.forEach(
        [1, 2, 3],
        () => sql<{ n: number }>`SELECT count(*)::int AS n FROM iso`.pipe(Effect.forkChild)
      )
      yield* Effect.sleep("50 millis")
      for (const reader of readers) assert.isUndefined(reader.pollUnsafe())
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* Fiber.join(writer), "roll back")
      for (const reader of readers) assert.deepStrictEqual(yield* Fiber.join(reader), [{ n: 0 }])
    }))

  it.effect("many fibers share the session without interleaving their transactions", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE counter (n int NOT NULL)`
      yield* sql`INSERT INTO counter VALUES (0)`
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) =>
          i % 2 === 0
            ? sql.withTransaction(Effect.gen(function*() {
              const [row] = yield* sql<{ n: number }>`SELECT n FROM counter`
              yield* Effect.yieldNow
              yield* sql`UPDATE counter SET n = ${row!.n + 1}`
            }))
            : sql`UPDATE counter SET n = n + 1`,
        { concurrency: "unbounded", discard: true }
      )
      assert.deepStrictEqual(yield* sql`SELECT n FROM counter`, [{ n: 50 }])
    }))

  it.effect("notifications from PL/pgSQL reach the listener after commit, not on rollback", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const client = yield* PgliteClient
      const payloads = yield* client.listen("embedded_test")
      yield* sql.unsafe(`CREATE FUNCTION notify_test(p text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('embedded_test', p); END $$`)
      yield* sql`SELECT notify_test('autocommit')`
      assert.strictEqual(yield* Queue.take(payloads), "autocommit")
      const sent = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const tx = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT notify_test('in transaction')`
        yield* Deferred.succeed(sent, undefined)
        yield* Deferred.await(commit)
      })).pipe(Effect.forkChild)
      yield* Deferred.await(sent)
      yield* Effect.sleep("20 millis")
      assert.strictEqual(yield* Queue.size(payloads), 0)
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(tx)
      assert.strictEqual(yield* Queue.take(payloads), "in transaction")
      yield* Effect.flip(sql.withTransaction(Effect.andThen(sql`SELECT notify_test('rolled back')`, Effect.fail("no"))))
      yield* client.notify("embedded_test", "direct")
      assert.strictEqual(yield* Queue.take(payloads), "direct")
      assert.strictEqual(yield* Queue.size(payloads), 0)
      // channel names are taken as they are, and a listener stops with its scope
      const mixed = yield* Effect.scoped(Effect.gen(function*() {
        const queue = yield* client.listen("Mixed Case")
        yield* client.notify("Mixed Case", "exact name")
        return yield* Queue.take(queue)
      }))
      assert.strictEqual(mixed, "exact name")
      const [listening] = yield* sql<{ channels: Array<string> }>`SELECT array_agg(c ORDER BY c) AS channels FROM pg_listening_channels() c`
      assert.deepStrictEqual(listening!.channels, ["embedded_test"])
    }))

  it.effect("partitioned queues, FOR UPDATE SKIP LOCKED and advisory transaction locks work", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker_create_queue('embedded_q')`
      yield* sql`SELECT tasker_create_queue('embedded_q')`
      const sent = yield* sql<{ id: bigint }>`
        SELECT tasker_send('embedded_q', ${JSON.stringify({ n: 1 })}::jsonb) AS id
        UNION ALL SELECT tasker_send('embedded_q', '{"n": 2}'::jsonb)`
      assert.strictEqual(typeof sent[0]!.id, "bigint")
      const [partition] = yield* sql<{ parent: string }>`
        SELECT inhparent::regclass::text AS parent FROM pg_inherits WHERE inhrelid = 'tasker_q_embedded_q'::regclass`
      assert.strictEqual(partition!.parent, "tasker_queue_messages")
      const read = yield* sql<{ msg_id: bigint; read_ct: number; message: unknown; vt: Date }>`
        SELECT * FROM tasker_read('embedded_q', 30, 1)`
      assert.strictEqual(read.length, 1)
      assert.deepStrictEqual(read[0]!.message, { n: 1 })
      assert.strictEqual(read[0]!.read_ct, 1)
      assert.instanceOf(read[0]!.vt, Date)
      const next = yield* sql<{ msg_id: bigint }>`SELECT msg_id FROM tasker_read('embedded_q', 30, 10)`
      assert.deepStrictEqual(next.map((r) => r.msg_id), [sent[1]!.id])
      const locked = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(hashtext('embedded'))`
        return yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM (SELECT 1 FROM tasker_queue_messages WHERE queue_name = 'embedded_q'
                                          FOR UPDATE SKIP LOCKED) x`
      }))
      assert.deepStrictEqual(locked, [{ n: 2 }])
      const error = yield* Effect.flip(sql`SELECT tasker_send('no_such_queue', '{}'::jsonb)`)
      assert.match(String(error.reason.cause), /no partition/)
      assert.isTrue(yield* sql<{ ok: boolean }>`SELECT tasker_archive('embedded_q', ${sent[0]!.id}) AS ok`.pipe(
        Effect.map(([r]) => r!.ok)
      ))
    }))
})
