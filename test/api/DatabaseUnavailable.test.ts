/**
 * A request that meets a database failure a client should simply retry (here a lock timeout: the table it reads
 * is locked by someone else) gets a 503 SERVICE_UNAVAILABLE, not a 500; once the database answers again the same
 * request succeeds. The database is real: a fresh one whose sessions have `lock_timeout = 300ms`, and a second
 * connection of the test that holds an ACCESS EXCLUSIVE lock on `tasker_tasks`.
 */
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { postgresLayer } from "../../layers/postgres.ts"
import { engineLayer } from "../../layers/engine.ts"
import { apiServerLayer } from "../../layers/api.ts"
import { exampleTemplates } from "../../src/examples/index.ts"
import { adminUrl, freshDatabase } from "../support/TestDatabase.ts"
import { request } from "./Support.ts"

const client = (url: string) => PgClient.makeClient({ url: Redacted.make(url) }).pipe(Effect.provide(Reactivity.layer))

/** A fresh database whose sessions give up waiting for a lock after 300 ms, and its URL. */
const lockTimeoutDatabase = Effect.gen(function*() {
  const db = yield* freshDatabase
  yield* Effect.scoped(Effect.gen(function*() {
    const admin = yield* client(adminUrl)
    yield* admin.unsafe(`ALTER DATABASE ${db.name} SET lock_timeout = '300ms'`).unprepared
  }))
  return db
})

class DatabaseUrl extends Context.Service<DatabaseUrl, { readonly url: string }>()("test/DatabaseUrl") {}

const TestLayer = Layer.unwrap(Effect.map(lockTimeoutDatabase, ({ url }) =>
  apiServerLayer({ port: 0, logRequests: false }).pipe(
    Layer.provideMerge(engineLayer({ templates: exampleTemplates, settings: { pollIntervalMs: 200 } })),
    Layer.provideMerge(postgresLayer({ url })),
    Layer.merge(Layer.succeed(DatabaseUrl, { url }))
  )
))

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("a database failure worth retrying", (it) => {
  it.effect("is a 503 SERVICE_UNAVAILABLE, and the same request succeeds once the database answers", () =>
    Effect.gen(function*() {
      const { url } = yield* DatabaseUrl
      assert.strictEqual((yield* request("GET", "/v1/tasks")).status, 200)

      const blocker = yield* client(url)
      const refused = yield* blocker.withTransaction(Effect.gen(function*() {
        yield* blocker`LOCK TABLE tasker_tasks IN ACCESS EXCLUSIVE MODE`
        return yield* request("GET", "/v1/tasks")
      }))
      assert.strictEqual(refused.status, 503, refused.text)
      assert.strictEqual(refused.json.error.code, "SERVICE_UNAVAILABLE")
      assert.match(refused.json.error.message, /database is unavailable \(LockTimeoutError\); retry/)

      // the lock is gone with the blocker's transaction: the same request succeeds
      const again = yield* request("GET", "/v1/tasks")
      assert.strictEqual(again.status, 200, again.text)
      const created = yield* request("POST", "/v1/tasks", {
        body: { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0", context: { even_number: 2 } }
      })
      assert.strictEqual(created.status, 201, created.text)
    }).pipe(Effect.scoped))
})
