/**
 * Creation batching (TaskInitializer): a `createTask` call goes out alone when no other creation of the process is in
 * flight; the calls that come meanwhile are created together, one `tasker_create_tasks` transaction per batch. Each
 * task of a batch keeps what it would have had alone — its correlation, its own trace (the task's trace_headers and
 * its root steps' messages) — and a request the database refuses fails alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const Pair = Workflow.make({ namespace: "creations", name: "pair", version: "1.0.0", identityStrategy: "always_unique" })
  .step("first", { run: () => Effect.succeed(1) })
  .step("second", { dependsOn: ["first"], run: () => Effect.succeed(2) })

// no worker: the roots stay on the queue, where the test reads their messages
const TestLayer = engineLayer({ orchestrator: false, worker: false }).pipe(Layer.provideMerge(TestDatabaseLayer))
const request = { namespace: "creations", name: "pair", version: "1.0.0" } as const

describe("batched creations", () => {
  it.effect("concurrent createTask calls share transactions; each task keeps its correlation and its trace", () =>
    Effect.gen(function*() {
      yield* (yield* TemplateRegistry).register(Pair)
      const tasks = yield* TaskInitializer
      const sql = yield* SqlClient.SqlClient
      const count = 60
      const made = yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const span = yield* Effect.currentSpan
          const correlationId = uuidv7()
          const created = yield* tasks.createTask({ ...request, context: { i }, correlation_id: correlationId })
          return { created, correlationId, traceId: span.traceId }
        }).pipe(Effect.withSpan(`request ${i}`)), { concurrency: "unbounded" })

      const rows = yield* sql<{
        task_uuid: string
        correlation_id: string
        created_at: Date
        i: number
        task_trace: string | null
        message_trace: string | null
      }>`
        SELECT t.task_uuid, t.correlation_id, t.created_at, (t.context ->> 'i')::int AS i,
               t.trace_headers ->> 'traceparent' AS task_trace, m.headers ->> 'traceparent' AS message_trace
        FROM tasker_tasks t
        JOIN tasker_queue_messages m ON (m.message ->> 'task_uuid')::uuid = t.task_uuid`
      assert.strictEqual(rows.length, count)
      for (const { correlationId, created, traceId } of made) {
        assert.isTrue(created.created)
        const row = rows.find((r) => r.task_uuid === created.task_uuid)!
        assert.strictEqual(row.correlation_id, correlationId)
        // the request's own trace, on the task and on its root step's message
        assert.strictEqual(row.task_trace?.split("-")[1], traceId)
        assert.strictEqual(row.message_trace?.split("-")[1], traceId)
      }
      // one transaction per batch (a task's created_at is its transaction's start): the first call alone, the
      // others in a few batches
      const transactions = new Set(rows.map((r) => r.created_at.getTime())).size
      assert.isAtMost(transactions, 10, `${count} creations in ${transactions} transactions`)
    }).pipe(Effect.provide(TestLayer)), 60_000)

  it.effect("a request the database refuses fails alone; the others of its batch are created", () =>
    Effect.gen(function*() {
      yield* (yield* TemplateRegistry).register(Pair)
      const tasks = yield* TaskInitializer
      const sql = yield* SqlClient.SqlClient
      // the database refuses one task of the batch: a trigger of the test's, on the context
      yield* sql.unsafe(`CREATE FUNCTION test_refuse_task() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.context ? 'refuse' THEN RAISE EXCEPTION 'refused by the test'; END IF;
          RETURN NEW;
        END $$`)
      yield* sql.unsafe(`CREATE TRIGGER test_refuse BEFORE INSERT ON tasker_tasks
        FOR EACH ROW EXECUTE FUNCTION test_refuse_task()`)
      const exits = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
        tasks.createTask({ ...request, context: i === 7 ? { refuse: true } : { i } }).pipe(Effect.exit), {
          concurrency: "unbounded"
        })
      const failed = exits.flatMap((exit, i) => Exit.isFailure(exit) ? [i] : [])
      assert.deepStrictEqual(failed, [7])
      // (concurrent as in the test above, the refused request's batch was retried one request at a time)
      const [created] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`
      assert.strictEqual(created!.n, 19)
    }).pipe(Effect.provide(TestLayer)), 60_000)
})
