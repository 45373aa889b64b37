/**
 * A persistent embedded database (`dataDir`): what one run of the layer wrote is there after a restart, the
 * migrations are not applied twice, the engine picks up where it left, and PGlite is closed on release.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { embeddedLayerFromEnv, embeddedLayer } from "../../layers/embedded.ts"
import { engineLayer } from "../../layers/engine.ts"
import { runMigrations } from "../../src/db/Migrations.ts"
import { PgliteClient } from "../../src/db/PgliteClient.ts"
import { LinearWorkflow } from "../../src/examples/index.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { resultOf, runTask, stepOf } from "../support/Harness.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "tasker-embedded-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Builds `layer`, runs `f` with its services, and releases the layer (closing the database). */
const session = <ROut, E, A, E2>(layer: Layer.Layer<ROut, E>, f: Effect.Effect<A, E2, ROut>) =>
  Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => Effect.provideContext(f, context)))

const engineOn = (dataDir: string) =>
  engineLayer({ templates: [LinearWorkflow], settings: { pollIntervalMs: 200 } }).pipe(
    Layer.provideMerge(embeddedLayer({ dataDir }))
  )

describe("persistent embedded database", () => {
  it.live("data written before a restart is there after it", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDir

      const first = yield* session(
        engineOn(dataDir),
        Effect.gen(function*() {
          const task = yield* runTask("rust_e2e_linear", "mathematical_sequence", { even_number: 6 })
          assert.strictEqual(task.status, "complete")
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE restart_marker (note text)`
          yield* sql.withTransaction(sql`INSERT INTO restart_marker VALUES ('written before the restart')`)
          const client = yield* PgliteClient
          return { taskUuid: stepOf(task, "linear_step_4").task_uuid, pglite: client.pglite }
        })
      )
      assert.isTrue(first.pglite.closed, "the layer closes PGlite when released")

      yield* session(
        engineOn(dataDir),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          assert.deepStrictEqual(yield* sql`SELECT note FROM restart_marker`, [{ note: "written before the restart" }])
          const [migrations] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_migrations`
          assert.isAtLeast(migrations!.n, 4)
          assert.deepStrictEqual(yield* runMigrations(), [])
          const queries = yield* TaskQueries
          const task = yield* queries.getTask(first.taskUuid)
          assert.strictEqual(task.status, "complete")
          const steps = yield* queries.listSteps(first.taskUuid)
          assert.strictEqual(resultOf(steps.find((s) => s.name === "linear_step_4")!), "2821109907456")
          // and the engine keeps working on the reopened database
          const again = yield* runTask("rust_e2e_linear", "mathematical_sequence", { even_number: 8 })
          assert.strictEqual(resultOf(stepOf(again, "linear_step_4")), "281474976710656")
        })
      )
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("embeddedLayerFromEnv reads TASKER_EMBEDDED_DATA_DIR", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDir
      const fromEnv = embeddedLayerFromEnv.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { TASKER_EMBEDDED_DATA_DIR: dataDir } })))
      )
      yield* session(fromEnv, Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE env_marker (id int)`
      }))
      const context = yield* Layer.build(embeddedLayer({ dataDir, autoMigrate: false }))
      const sql = Context.get(context, SqlClient.SqlClient)
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM env_marker`, [{ n: 0 }])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
