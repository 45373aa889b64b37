import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { runMigrations } from "../../src/db/Migrations.ts"
import { splitSqlStatements } from "../../src/db/SqlScript.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

describe("splitSqlStatements", () => {
  it("splits on semicolons outside quotes, dollar quotes and comments", () => {
    const script = `
      -- a comment; with a semicolon
      CREATE TABLE a (x text DEFAULT 'a;b', "we;ird" int); /* block; comment */
      CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END $fn$;
      SELECT $$;$$, E'it\\'s; fine', 'it''s; fine';
      /* only a comment */;
    `
    const statements = splitSqlStatements(script)
    assert.strictEqual(statements.length, 3)
    assert.include(statements[0]!, `"we;ird" int)`)
    assert.include(statements[1]!, "RETURN 1; END $fn$")
    assert.include(statements[2]!, "'it''s; fine'")
  })
})

layer(TestDatabaseLayer, { excludeTestServices: true })("migrations", (it) => {
  it.effect("are applied in order and recorded, and a second run applies nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const recorded = yield* sql<{ migration_id: number; name: string }>`
        SELECT migration_id, name FROM tasker_migrations ORDER BY migration_id`
      assert.deepStrictEqual(recorded.map((r) => [r.migration_id, r.name]), [
        [1, "registry"],
        [2, "tasks_and_steps"],
        [3, "transitions"],
        [4, "readiness"],
        [5, "discovery"],
        [6, "queue"],
        [7, "engine"],
        [9, "task_context_size"],
        [10, "api_keys"],
        [11, "dashboard"],
        [12, "batched_completions"],
        [13, "batched_creations"]
      ])
      const again = yield* runMigrations()
      assert.deepStrictEqual(again, [])
    }))

  it.effect("create the tables, the functions and no extension", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tables = yield* sql<{ table_name: string }>`
        SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_name LIKE 'tasker_%' ORDER BY table_name`
      for (const table of [
        "tasker_task_namespaces",
        "tasker_named_tasks",
        "tasker_named_steps",
        "tasker_dependent_systems",
        "tasker_tasks",
        "tasker_workflow_steps",
        "tasker_workflow_step_edges",
        "tasker_task_transitions",
        "tasker_workflow_step_transitions",
        "tasker_processors",
        "tasker_processor_templates"
      ]) {
        assert.include(tables.map((t) => t.table_name), table)
      }
      const extensions = yield* sql<{ extname: string }>`SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'`
      assert.deepStrictEqual(extensions, [])
      const [uuid] = yield* sql<{ id: string }>`SELECT tasker_uuid_v7()::text AS id`
      assert.match(uuid!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }))

  it.effect("tasker_uuid_v7 values sort by creation time", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const [row] = yield* sql<{ id: string }>`SELECT tasker_uuid_v7()::text AS id`
        ids.push(row!.id)
        yield* Effect.sleep("2 millis")
      }
      assert.deepStrictEqual([...ids].sort(), ids)
    }))
})
