import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Metric, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient } from "effect/sql"
import { MessageQueue } from "../../src/messaging/MessageQueue.ts"
import { sampleGauges } from "../../src/telemetry/Sampler.ts"
import { instrumentSql } from "../../src/db/SqlMetrics.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

/** The series of metric `id` in the current registry: attributes (without `unit`) and the value or count. */
const series = (id: string) =>
  Effect.map(Metric.snapshot, (all) =>
    all.filter((s) => s.id === id).map((s) => {
      const { unit: _unit, ...attributes } = s.attributes ?? {}
      const value = s.type === "Counter"
        ? Number(s.state.count)
        : s.type === "Gauge"
        ? Number(s.state.value)
        : s.type === "Histogram"
        ? s.state.count
        : NaN
      return { attributes, value }
    }))

const total = (id: string, filter: (attributes: Record<string, unknown>) => boolean = () => true) =>
  Effect.map(series(id), (all) => all.filter((s) => filter(s.attributes)).reduce((n, s) => n + s.value, 0))

const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provideService(self, Metric.MetricRegistry, new Map())

const Db = Layer.mergeAll(MessageQueue.layerPostgres).pipe(Layer.provideMerge(TestDatabaseLayer))

layer(Db, { excludeTestServices: true, timeout: "60 seconds" })("database and messaging metrics", (it) => {
  it.effect("a failed SQL call that is not a connection failure is not a connection error; no pool checkout metric", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT no_such_function()`.pipe(instrumentSql("no_such_function"), Effect.ignore)
      yield* sql`SELECT 1/0`.pipe(instrumentSql("divide"), Effect.ignore)
      yield* sql`SELECT 1`.pipe(instrumentSql("one"))
      assert.strictEqual(yield* total("tasker.sql.queries.total", (a) => a.result === "error"), 2)
      assert.strictEqual(yield* total("tasker.db.connection.errors.total"), 0)
      assert.deepStrictEqual(yield* series("tasker.db.pool.checkouts.total"), [])
    }).pipe(isolated))

  it.effect("a session ended by the server counts as a connection error", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* sql`SELECT pg_terminate_backend(pg_backend_pid())`.pipe(
        instrumentSql("terminate_self"),
        Effect.exit
      )
      assert.isTrue(exit._tag === "Failure")
      const errors = yield* series("tasker.db.connection.errors.total")
      assert.strictEqual(errors.reduce((n, s) => n + s.value, 0), 1)
      assert.include(["57P01", "connection_error"], errors[0]!.attributes.error_type)
    }).pipe(isolated))

  it.effect("a refused connection counts as a connection error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.gen(function*() {
        const client = yield* PgClient.make({ url: Redacted.make("postgres://root@127.0.0.1:1/test"), connectTimeout: "2 seconds" })
        return yield* client`SELECT 1`.pipe(instrumentSql("unreachable"))
      }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.exit)
      assert.isTrue(exit._tag === "Failure")
      const errors = yield* series("tasker.db.connection.errors.total")
      assert.strictEqual(errors.length, 1)
      assert.strictEqual(errors[0]!.attributes.error_type, "ECONNREFUSED")
    }).pipe(isolated))

  it.effect("MessageQueue records sends, send failures, reads and archives", () =>
    Effect.gen(function*() {
      const mq = yield* MessageQueue
      yield* mq.createQueue("metrics_probe")
      const first = yield* mq.send("metrics_probe", { n: 1 })
      yield* mq.sendBatch("metrics_probe", [{ message: { n: 2 } }, { message: { n: 3 } }])
      yield* mq.send("no_such_queue", { n: 4 }).pipe(Effect.ignore)
      const read = yield* mq.read("metrics_probe", { visibilityTimeoutSeconds: 30, quantity: 10 })
      assert.strictEqual(read.length, 3)
      assert.isTrue(yield* mq.archive("metrics_probe", first, { reason: "probe", deadLetter: true }))

      const probe = (a: Record<string, unknown>) => a.queue === "metrics_probe"
      assert.strictEqual(yield* total("tasker.messages.sent.total", probe), 3)
      assert.strictEqual(yield* total("tasker.message.send.duration", probe), 2)
      assert.deepStrictEqual(
        (yield* series("tasker.messages.send_failures.total")).map((s) => [s.attributes.queue, s.attributes.error_type, s.value]),
        [["no_such_queue", "queue_not_found", 1]]
      )
      assert.strictEqual(yield* total("tasker.messages.received.total", probe), 3)
      assert.strictEqual(yield* total("tasker.message.receive.duration", probe), 1)
      assert.strictEqual(yield* total("tasker.message.latency", probe), 3)
      assert.strictEqual(yield* total("tasker.message.archive.duration", probe), 1)
      assert.strictEqual(yield* total("tasker.messages.archived.total", (a) => probe(a) && a.reason === "dead_lettered"), 1)
    }).pipe(isolated))

  it.effect("the connections gauge names the application_name it counts", () =>
    Effect.gen(function*() {
      yield* sampleGauges
      const connections = yield* series("tasker.db.pool.connections")
      assert.isAbove(connections.length, 0)
      for (const c of connections) {
        assert.strictEqual(c.attributes.application_name, "tasker-effect")
        assert.strictEqual(c.attributes.pool, "engine")
      }
      // the sampling session itself is active
      assert.isAtLeast(connections.find((c) => c.attributes.state === "active")?.value ?? 0, 1)
    }).pipe(isolated))
})
