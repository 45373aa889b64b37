/**
 * The migrations on the embedded database: every file applies on PGlite statement by statement (so a failure names
 * the statement), the migrator records them all, and a second run applies nothing.
 */
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { embeddedSqlLayer } from "../../layers/embedded.ts"
import { migrationsDirectory, runMigrations } from "../../src/db/Migrations.ts"
import { splitSqlStatements } from "../../src/db/SqlScript.ts"

const migrationFiles = Effect.promise(async () =>
  (await readdir(migrationsDirectory)).filter((f) => /^\d+_\w+\.sql$/.test(f)).sort()
)

layer(embeddedSqlLayer({ autoMigrate: false }), { excludeTestServices: true })("migrations on PGlite, one statement at a time", (it) => {
  it.effect("every statement of every migration file applies", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const files = yield* migrationFiles
      assert.isAtLeast(files.length, 7)
      const failures: Array<string> = []
      for (const file of files) {
        const text = yield* Effect.promise(() => readFile(join(migrationsDirectory, file), "utf8"))
        for (const statement of splitSqlStatements(text)) {
          const exit = yield* Effect.exit(sql.unsafe(statement).unprepared)
          if (exit._tag === "Failure") failures.push(`${file}: ${statement.slice(0, 120)}…\n  ${String(exit.cause)}`)
        }
      }
      assert.deepStrictEqual(failures, [])
    }))
})

layer(embeddedSqlLayer(), { excludeTestServices: true })("migrations on PGlite, by the migrator", (it) => {
  it.effect("are applied in order and recorded, and a second run applies nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const files = yield* migrationFiles
      const recorded = yield* sql<{ migration_id: number; name: string }>`
        SELECT migration_id, name FROM tasker_migrations ORDER BY migration_id`
      assert.deepStrictEqual(
        recorded.map((r) => `${String(r.migration_id).padStart(4, "0")}_${r.name}.sql`),
        files
      )
      assert.deepStrictEqual(yield* runMigrations(), [])
    }))

  it.effect("create the tables, partitions, functions and the results queue", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tables = yield* sql<{ relname: string; relkind: string }>`
        SELECT c.relname, c.relkind::text AS relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname LIKE 'tasker_%' ORDER BY c.relname`
      const kinds = Object.fromEntries(tables.map((t) => [t.relname, t.relkind]))
      for (const table of [
        "tasker_task_namespaces",
        "tasker_named_tasks",
        "tasker_named_steps",
        "tasker_dependent_systems",
        "tasker_processors",
        "tasker_processor_templates",
        "tasker_tasks",
        "tasker_workflow_steps",
        "tasker_workflow_step_edges",
        "tasker_task_transitions",
        "tasker_workflow_step_transitions",
        "tasker_queues",
        "tasker_q_orchestration_step_results_queue",
        "tasker_a_orchestration_step_results_queue"
      ]) {
        assert.strictEqual(kinds[table], "r", table)
      }
      assert.strictEqual(kinds.tasker_queue_messages, "p")
      assert.strictEqual(kinds.tasker_queue_archive, "p")
      const functions = yield* sql<{ proname: string }>`
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`
      const names = new Set(functions.map((f) => f.proname))
      for (const fn of [
        "tasker_uuid_v7",
        "tasker_unhosted_templates",
        "transition_task_state_atomic",
        "transition_step_state_atomic",
        "get_step_readiness_status_batch",
        "get_task_execution_contexts_batch",
        "get_next_ready_tasks",
        "tasker_create_queue",
        "tasker_send",
        "tasker_read",
        "tasker_create_task",
        "tasker_claim_step_messages",
        "tasker_submit_step_result",
        "tasker_process_step_result",
        "tasker_evaluate_task"
      ]) {
        assert.isTrue(names.has(fn), fn)
      }
      const [uuid] = yield* sql<{ u: string; version: string }>`
        SELECT tasker_uuid_v7()::text AS u, substring(tasker_uuid_v7()::text FROM 15 FOR 1) AS version`
      assert.match(uuid!.u, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }))
})
