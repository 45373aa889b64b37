/**
 * What task creation checks and tells: a context the template's input schema refuses is an `InvalidTaskRequest`
 * naming the field (one task or a batch, a template registered in code, read back from the database or written in
 * YAML), and a task whose template no live worker hosts is accepted with a `no_live_worker` warning, counted and
 * logged.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Metric, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { TemplateHosting } from "../../src/db/Processors.ts"
import { LinearWorkflow } from "../../src/examples/LinearWorkflow.ts"
import { TaskInitializer, type TaskRequest } from "../../src/tasks/TaskInitializer.ts"
import { jsonLine } from "../../src/telemetry/Logging.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { parseTemplateYaml } from "../../src/workflow/YamlTemplates.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const LINEAR = { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0" } as const

/** Steps that never end by themselves: a task of it stays unfinished while its worker runs. */
const Waits = Workflow.make({ namespace: "hosting_waits", name: "waits", version: "1.0.0", identityStrategy: "always_unique" })
  .step("forever", { run: () => Effect.never })

/** Registered, hosted by no worker. */
const Orphan = Workflow.make({ namespace: "hosting", name: "orphan", version: "1.0.0", identityStrategy: "always_unique" })
  .step("only", { run: () => Effect.succeed(1) })

/**
 * A short heartbeat interval: the creation path believes "hosted" for that long; a short shutdown grace: a worker
 * gives its never-ending steps back at once when it stops.
 */
const settings = { pollIntervalMs: 200, heartbeatIntervalMs: 300, shutdownGraceMs: 100 }

/** An engine of its own on the suite's database (`templates` hosted by its worker), alive until the scope closes. */
const engineOn = (scope: Scope.Scope, options: Parameters<typeof engineLayer<never>>[0]) =>
  Layer.buildWithScope(engineLayer({ settings, ...options }), scope)

const countTasks = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`, ([row]) => row!.n))

/** The count of `tasker.tasks.no_live_worker.total` for a task's correlation ID. */
const noLiveWorkerCount = (correlationId: string) =>
  Effect.map(Metric.snapshot, (all) =>
    all.filter((s) => s.id === "tasker.tasks.no_live_worker.total" && s.attributes?.correlation_id === correlationId)
      .reduce((n, s) => n + (s.type === "Counter" ? Number(s.state.count) : 0), 0))

/** Runs `self` with its log lines captured as the JSON logger writes them. */
const captureLogs = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<Record<string, any>> = []
    const logger = Logger.make((o) => {
      lines.push(JSON.parse(jsonLine(o)))
    })
    const value = yield* self.pipe(Effect.provide(Logger.layer([logger])))
    return { value, lines }
  })

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

  it.effect("text PostgreSQL cannot store is an InvalidTaskRequest naming the field in-process too, as over the API; nothing is written", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* Effect.scope, { templates: [LinearWorkflow] })
      const init = Context.get(engine, TaskInitializer)
      const before = yield* countTasks
      const refused = (request: Omit<TaskRequest, keyof typeof LINEAR>) =>
        Effect.map(Effect.flip(init.createTask({ ...LINEAR, ...request })), (e) => e._tag === "InvalidTaskRequest" ? e.message : e._tag)

      assert.strictEqual(
        yield* refused({ context: { even_number: 2, note: { lines: ["ok", "a\u0000b"] } } }),
        "context.note.lines.1: must not contain NUL (\\u0000) characters"
      )
      assert.strictEqual(
        yield* refused({ context: { even_number: 2, ["k\ud800"]: 1 } }),
        "context.k\ud800: keys must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)"
      )
      assert.strictEqual(
        yield* refused({ context: { even_number: 2 }, tags: ["fine", "bad\u0000"] }),
        "tags.1: must not contain NUL (\\u0000) characters"
      )
      assert.strictEqual(
        yield* refused({ context: { even_number: 2 }, initiator: "x\u0000" }),
        "initiator: must not contain NUL (\\u0000) characters"
      )
      const inBatch = yield* Effect.flip(init.createTasks([
        { ...LINEAR, context: { even_number: 2 } },
        { ...LINEAR, context: { even_number: 4, s: "\u0000" } }
      ]))
      assert.strictEqual(inBatch._tag === "InvalidTaskRequest" && inBatch.field, "tasks.1.context.s")
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

  it.effect("a task no live worker hosts is accepted with a no_live_worker warning, counted and logged; hosted ones have none", () =>
    Effect.gen(function*() {
      const engine = yield* engineOn(yield* Effect.scope, { templates: [LinearWorkflow] })
      const init = Context.get(engine, TaskInitializer)
      yield* Context.get(engine, TemplateRegistry).register(Orphan)

      const hosted = yield* init.createTask({ ...LINEAR, context: { even_number: 10 } })
      assert.deepStrictEqual(hosted.warnings, [])

      const { lines, value: orphan } = yield* captureLogs(
        init.createTask({ namespace: "hosting", name: "orphan", version: "1.0.0" })
      )
      assert.isTrue(orphan.created)
      assert.strictEqual(orphan.status, "steps_in_process")
      assert.deepStrictEqual(orphan.warnings, [{
        code: "no_live_worker",
        message: "no live worker hosts hosting/orphan@1.0.0: the task waits until a worker that hosts it starts"
      }])
      assert.strictEqual(yield* noLiveWorkerCount(orphan.correlation_id), 1)
      assert.strictEqual(yield* noLiveWorkerCount(hosted.correlation_id), 0)
      const warning = lines.find((l) => l.level === "WARN")
      assert.isDefined(warning)
      assert.include(warning!.message, "No live worker hosts the task's template")
      assert.strictEqual(warning!.template, "hosting/orphan@1.0.0")
      assert.strictEqual(warning!.task_uuid, orphan.task_uuid)
      assert.strictEqual(warning!.correlation_id, orphan.correlation_id)
      const hosting = Context.get(engine, TemplateHosting)
      assert.isTrue(yield* hosting.taskUnhosted(orphan.task_uuid))
      assert.isFalse(yield* hosting.taskUnhosted(hosted.task_uuid))

      // a batch: the warning on each task of the unhosted template only
      const batch = yield* init.createTasks([
        { ...LINEAR, context: { even_number: 12 } },
        { namespace: "hosting", name: "orphan", version: "1.0.0" }
      ])
      assert.deepStrictEqual(batch.map((t) => t.warnings.map((w) => w.code)), [[], ["no_live_worker"]])
    }))

  it.effect("a worker that starts is seen at once; one that stops is seen by the task view at once and by creation within a heartbeat interval", () =>
    Effect.gen(function*() {
      const client = yield* engineOn(yield* Effect.scope, { orchestrator: true })
      const init = Context.get(client, TaskInitializer)
      const hosting = Context.get(client, TemplateHosting)
      yield* Context.get(client, TemplateRegistry).register(Waits)
      const waits = { namespace: "hosting_waits", name: "waits", version: "1.0.0" } as const

      const early = yield* init.createTask(waits)
      assert.deepStrictEqual(early.warnings.map((w) => w.code), ["no_live_worker"])

      // a worker that hosts the template starts: the next request sees it (an unhosted answer is not cached)
      const workerScope = yield* Scope.make()
      yield* engineOn(workerScope, { templates: [Waits], orchestrator: false })
      const hostedNow = yield* init.createTask(waits)
      assert.deepStrictEqual(hostedNow.warnings, [])
      assert.isFalse(yield* hosting.taskUnhosted(early.task_uuid))

      // it stops (marked stopped in tasker_processors): the task view says so at once; creation believed
      // "hosted" for up to a heartbeat interval (300 ms here), then asks again
      yield* Scope.close(workerScope, yield* Effect.exit(Effect.void))
      assert.isTrue(yield* hosting.taskUnhosted(hostedNow.task_uuid))
      yield* Effect.sleep("400 millis")
      const late = yield* init.createTask(waits)
      assert.deepStrictEqual(late.warnings.map((w) => w.code), ["no_live_worker"])
    }))

  it.effect("a worker whose heartbeat went stale counts as none", () =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const client = yield* engineOn(scope, { orchestrator: false })
      // a worker that heartbeats once a minute: its heartbeat is set back below and stays there
      yield* engineOn(scope, { templates: [Orphan], orchestrator: false, settings: { ...settings, heartbeatIntervalMs: 60_000 } })
      const hosting = Context.get(client, TemplateHosting)
      const { namedTaskUuid } = yield* Context.get(client, TemplateRegistry).resolve("hosting", "orphan", "1.0.0")
      assert.strictEqual((yield* hosting.unhosted([namedTaskUuid])).size, 0)

      yield* Effect.sleep("400 millis")
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE tasker_processors SET last_heartbeat_at = now() - interval '5 minutes'
                 WHERE processor_uuid IN (SELECT processor_uuid FROM tasker_processor_templates
                                          WHERE named_task_uuid = ${namedTaskUuid})`
      // staleAfterSeconds is 60: no live worker hosts it any more
      assert.deepStrictEqual([...(yield* hosting.unhosted([namedTaskUuid]))], [namedTaskUuid])
    }))
})
