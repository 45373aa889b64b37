/**
 * What task creation checks: a context the template's input schema refuses is an `InvalidTaskRequest` naming the
 * field (one task or a batch, a template registered in code, read back from the database or written in YAML).
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { LinearWorkflow } from "../../src/examples/LinearWorkflow.ts"
import { TaskInitializer, type TaskRequest } from "../../src/tasks/TaskInitializer.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { parseTemplateYaml } from "../../src/workflow/YamlTemplates.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const LINEAR = { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0" } as const

const settings = { pollIntervalMs: 200 }

/** An engine of its own on the suite's database (`templates` hosted by its worker), alive until the scope closes. */
const engineOn = (scope: Scope.Scope, options: Parameters<typeof engineLayer<never>>[0]) =>
  Layer.buildWithScope(engineLayer({ settings, ...options }), scope)

const countTasks = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`, ([row]) => row!.n))

layer(TestDatabaseLayer, { excludeTestServices: true, timeout: "90 seconds" })("task creation", (it) => {
  it.effect("a context the input schema refuses is an InvalidTaskRequest naming the field, alone or in a batch; nothing is written", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* Effect.scope, { templates: [LinearWorkflow] })
      const init = Context.get(engine, TaskInitializer)
      const before = yield* countTasks

      const odd = yield* Effect.flip(init.createTask({ ...LINEAR, context: { even_number: 7 } }))
      assert.strictEqual(odd._tag, "InvalidTaskRequest")
      if (odd._tag === "InvalidTaskRequest") {
        assert.strictEqual(odd.field, "context.even_number")
        assert.strictEqual(odd.message, "context.even_number: Expected an even number, got 7")
      }
      const missing = yield* Effect.flip(init.createTask({ ...LINEAR, context: {} }))
      assert.strictEqual(missing._tag === "InvalidTaskRequest" && missing.message, "context.even_number: Missing key")

      const batch: Array<TaskRequest> = [2, 4, 6, 7, 8].map((n) => ({ ...LINEAR, context: { even_number: n } }))
      const inBatch = yield* Effect.flip(init.createTasks(batch))
      assert.strictEqual(inBatch._tag, "InvalidTaskRequest")
      if (inBatch._tag === "InvalidTaskRequest") {
        assert.strictEqual(inBatch.field, "tasks.3.context.even_number")
        assert.strictEqual(inBatch.message, "tasks.3.context.even_number: Expected an even number, got 7")
      }
      assert.strictEqual(yield* countTasks, before)
    }))

  it.effect("a process that reads the template from the database validates with the stored JSON Schema (code and YAML templates)", () =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      // one process registers the templates: the linear one from code (its input schema stored as JSON Schema,
      // even_number with multipleOf 2), a YAML one whose input_schema is JSON Schema to begin with
      const squares = yield* parseTemplateYaml(`
name: squares
namespace_name: yaml_input
version: 1.0.0
input_schema:
  type: object
  required: [n]
  properties:
    n: { type: integer, minimum: 1, multipleOf: 3 }
steps:
  - name: square
    handler: { callable: Square }
`)
      const registrar = yield* engineOn(scope, { templates: [LinearWorkflow], worker: false, orchestrator: false })
      yield* Context.get(registrar, TemplateRegistry).register(squares)

      // another one has neither in code: it reads both from the database
      const reader = Context.get(yield* engineOn(scope, { orchestrator: false }), TaskInitializer)
      const before = yield* countTasks
      const odd = yield* Effect.flip(reader.createTask({ ...LINEAR, context: { even_number: 7 } }))
      assert.strictEqual(odd._tag === "InvalidTaskRequest" && odd.field, "context.even_number")
      assert.match(odd.message, /^context\.even_number: .*multiple of 2.*7/)
      const notMultiple = yield* Effect.flip(
        reader.createTask({ namespace: "yaml_input", name: "squares", version: "1.0.0", context: { n: 4 } })
      )
      assert.strictEqual(notMultiple._tag === "InvalidTaskRequest" && notMultiple.field, "context.n")
      const tooSmall = yield* Effect.flip(
        reader.createTask({ namespace: "yaml_input", name: "squares", version: "1.0.0", context: { n: -3 } })
      )
      assert.strictEqual(tooSmall._tag === "InvalidTaskRequest" && tooSmall.field, "context.n")
      assert.strictEqual(yield* countTasks, before)

      const good = yield* reader.createTask({ ...LINEAR, context: { even_number: 8 } })
      assert.isTrue(good.created)
      const yamlGood = yield* reader.createTask({ namespace: "yaml_input", name: "squares", version: "1.0.0", context: { n: 9 } })
      assert.isTrue(yamlGood.created)
    }))
})
