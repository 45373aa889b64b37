/**
 * The engine's SQL functions on the embedded database: the suites PostgreSQL runs too (readiness along the example
 * graphs, execution contexts, discovery claims, compare-and-set transitions: of concurrent writers one wins), and
 * the periodic vacuum that stands in for autovacuum, which PGlite does not have.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { embeddedLayer } from "../../layers/embedded.ts"
import { pglite } from "../support/Databases.ts"
import { createTask, forceStepState, graphs } from "../support/Fixtures.ts"
import { discoverySuite } from "../support/suites/DiscoverySuite.ts"
import { readinessSuite } from "../support/suites/ReadinessSuite.ts"
import { transitionsSuite } from "../support/suites/TransitionsSuite.ts"

readinessSuite(pglite)
discoverySuite(pglite)
transitionsSuite(pglite)

/** Dead rows and vacuum runs of the engine's tables, from freshly flushed statistics. */
const tableStats = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT pg_stat_force_next_flush()`
  yield* sql`SELECT pg_stat_clear_snapshot()`
  const [row] = yield* sql<{ dead: number; vacuums: number }>`
    SELECT COALESCE(sum(n_dead_tup), 0)::int AS dead, COALESCE(sum(vacuum_count), 0)::int AS vacuums
    FROM pg_stat_user_tables WHERE relname = 'tasker_workflow_steps'`
  return row!
})

layer(embeddedLayer({ vacuumInterval: "300 millis" }), { excludeTestServices: true })("maintenance on PGlite", (it) => {
  it.effect("the periodic vacuum removes the dead rows queues and step updates leave (no autovacuum in PGlite)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker_create_queue('churn')`
      for (let i = 0; i < 20; i++) {
        const [sent] = yield* sql<{ id: bigint }>`SELECT tasker_send('churn', '{}'::jsonb) AS id`
        yield* sql`SELECT tasker_delete('churn', ${sent!.id})`
      }
      const { steps } = yield* createTask({ steps: graphs.linear })
      for (const state of ["enqueued", "in_progress", "complete"] as const) yield* forceStepState(steps.step_1!, state)
      const before = yield* tableStats
      assert.isAbove(before.dead, 0)
      yield* Effect.sleep("1 second")
      const after = yield* tableStats
      assert.isAbove(after.vacuums, before.vacuums)
      assert.strictEqual(after.dead, 0)
    }))
})
