/**
 * Task requests for stored templates that cannot make a sound task: a dependency cycle, a step that depends on
 * itself, a dependency on an unknown step, a duplicate step, an invalid retry policy, a namespace that cannot name
 * a queue, a configuration for another template, a configuration that does not decode. Such rows are
 * written by something other than this engine's registration (an older version, a hand-made row); the engine checks
 * them like a template being registered. Each request is a 409 CONFLICT whose message names the template and the
 * steps at fault; nothing is written (no task, step, edge, transition, step type or system); the server stays up
 * and a good request succeeds afterwards.
 *
 * And a template that is sound but whose handlers no worker has (registered by an API-only process, or a row no
 * process registered, whose namespace has no queue yet): the request succeeds, the task is written whole and waits
 * for a worker that has the handlers.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerClient } from "../../src/client/Client.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { auditTransitions } from "../support/Audit.ts"
import { halfTasks, tableCounts } from "../support/Integrity.ts"
import { apiTestLayer, assertError, request } from "./Support.ts"

const NS = "broken_templates"
const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const

const step = (name: string, dependencies: ReadonlyArray<string> = []) => ({
  name,
  handler: { callable: `${NS}.${name}`, initialization: null },
  system_dependency: "default",
  dependencies
})

const configuration = (name: string, steps: ReadonlyArray<unknown>) => ({
  name,
  namespace_name: NS,
  version: "1.0.0",
  identity_strategy: "always_unique",
  input_schema: null,
  steps
})

interface Broken {
  readonly name: string
  readonly configuration: unknown
  /** what the 409's message must contain */
  readonly mentions: ReadonlyArray<string>
}

const broken: ReadonlyArray<Broken> = [
  {
    name: "cycle",
    configuration: configuration("cycle", [step("a", ["c"]), step("b", ["a"]), step("c", ["b"])]),
    mentions: ["dependency cycle", "a -> c -> b -> a"]
  },
  {
    name: "self_reference",
    configuration: configuration("self_reference", [step("start"), step("loop", ["start", "loop"])]),
    mentions: ["dependency cycle", "loop -> loop"]
  },
  {
    name: "unknown_dependency",
    configuration: configuration("unknown_dependency", [step("a"), step("b", ["ghost"])]),
    mentions: [`step "b" depends on unknown step "ghost"`]
  },
  {
    name: "duplicate_step",
    configuration: configuration("duplicate_step", [step("a"), step("a")]),
    mentions: [`duplicate step name "a"`]
  },
  {
    name: "dependency_twice",
    configuration: configuration("dependency_twice", [step("a"), step("b", ["a", "a"])]),
    mentions: [`step "b" lists a dependency twice`]
  },
  {
    name: "negative_attempts",
    configuration: configuration("negative_attempts", [{ ...step("a"), retry: { max_attempts: -1 } }]),
    mentions: [`step "a": retry.maxAttempts must be an integer >= 0`]
  },
  {
    name: "mismatch",
    configuration: configuration("some_other_name", [step("a")]),
    mentions: [`its stored configuration is for ${NS}/some_other_name@1.0.0`]
  },
  {
    name: "undecodable",
    configuration: { name: "undecodable", steps: "not an array" },
    mentions: ["stored configuration"]
  }
]

/** Writes a template row directly, as something other than `TemplateRegistry.register` would (no queue either). */
const storeRow = (name: string, config: unknown, namespace: string = NS) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [ns] = yield* sql<{ task_namespace_uuid: string }>`
      INSERT INTO tasker_task_namespaces (name) VALUES (${namespace})
      ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING task_namespace_uuid`
    yield* sql`INSERT INTO tasker_named_tasks (task_namespace_uuid, name, version, configuration)
               VALUES (${ns!.task_namespace_uuid}, ${name}, '1.0.0', ${JSON.stringify(config)}::jsonb)`
  })

/** A sound template whose handlers no worker in this test has (registered without requiring them). */
const Unhosted = Workflow.make({ namespace: "unhosted_ns", name: "unhosted", version: "1.0.0", identityStrategy: "always_unique" })
  .step("first", { run: () => Effect.succeed(1) })
  .step("second", { dependsOn: ["first"], run: () => Effect.succeed(2) })

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("stored templates that are broken", (it) => {
  it.effect("a cyclic, self-referencing or otherwise broken stored template is a 409 naming the steps; nothing is written", () =>
    Effect.gen(function*() {
      for (const b of broken) yield* storeRow(b.name, b.configuration)
      // a namespace that cannot name a queue (registration refuses it; a hand-made row may have it)
      const badNamespace = "Bad-Namespace ü"
      yield* storeRow("bad_namespace", { ...configuration("bad_namespace", [step("a")]), namespace_name: badNamespace }, badNamespace)
      const before = yield* tableCounts
      const cases: ReadonlyArray<Broken & { readonly namespace: string }> = [
        ...broken.map((b) => ({ ...b, namespace: NS })),
        {
          name: "bad_namespace",
          namespace: badNamespace,
          configuration: null,
          mentions: [`namespace "${badNamespace}" must be 1-40 characters of a-z, 0-9 and _`]
        }
      ]
      for (const b of cases) {
        // twice: the first answer is not cached as a good template
        for (const attempt of [1, 2]) {
          const label = `${b.name} (request ${attempt})`
          const response = yield* request("POST", "/v1/tasks", {
            body: { namespace: b.namespace, name: b.name, version: "1.0.0", context: {} }
          })
          assertError(response, { status: 409, code: "CONFLICT" }, label)
          assert.include(response.json.error.message, `${b.namespace}/${b.name}@1.0.0`, label)
          for (const m of b.mentions) assert.include(response.json.error.message, m, label)
          assert.strictEqual((yield* request("GET", "/health")).status, 200, `server down after ${label}`)
        }
      }
      assert.deepStrictEqual(yield* tableCounts, before)
      assert.deepStrictEqual(yield* halfTasks, [])

      // the server still creates and runs tasks
      const client = yield* TaskerClient
      const created = yield* client.createTask({ ...SUCCESS, context: { after: "broken templates" } })
      assert.strictEqual(created.created, true)
      const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(done.status, "complete")
      assert.deepStrictEqual(yield* halfTasks, [])
      assert.deepStrictEqual(yield* auditTransitions, [])
    }))

  it.effect("a sound template whose handlers no worker has: the task is created whole and waits for a worker", () =>
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      yield* registry.register(Unhosted, { requireHandlers: false })
      const before = yield* tableCounts
      const response = yield* request("POST", "/v1/tasks", {
        body: { namespace: "unhosted_ns", name: "unhosted", version: "1.0.0", context: {} }
      })
      assert.strictEqual(response.status, 201, response.text)
      assert.strictEqual(response.json.step_count, 2)
      const after = yield* tableCounts
      assert.strictEqual(after.tasks, before.tasks! + 1)
      assert.strictEqual(after.steps, before.steps! + 2)
      assert.strictEqual(after.edges, before.edges! + 1)
      assert.deepStrictEqual(yield* halfTasks, [])
      const task = yield* request("GET", `/v1/tasks/${response.json.task_uuid}`)
      assert.strictEqual(task.status, 200)
      assert.notInclude(["complete", "error"], task.json.status)
      assert.strictEqual((yield* request("GET", "/health")).status, 200)
    }))

  it.effect("a sound template row that no process registered (no queue for its namespace): created whole, waits", () =>
    Effect.gen(function*() {
      yield* storeRow(
        "handmade",
        { ...configuration("handmade", [step("a"), step("b", ["a"]), step("c", ["a"])]), namespace_name: "handmade_ns" },
        "handmade_ns"
      )
      const before = yield* tableCounts
      const response = yield* request("POST", "/v1/tasks", {
        body: { namespace: "handmade_ns", name: "handmade", version: "1.0.0", context: {} }
      })
      // the engine creates the namespace's queue when it resolves the row, so the first step can be enqueued
      assert.strictEqual(response.status, 201, response.text)
      assert.strictEqual(response.json.step_count, 3)
      const after = yield* tableCounts
      assert.strictEqual(after.tasks, before.tasks! + 1)
      assert.strictEqual(after.steps, before.steps! + 3)
      assert.strictEqual(after.edges, before.edges! + 2)
      assert.strictEqual(after.queues, before.queues! + 1)
      assert.deepStrictEqual(yield* halfTasks, [])
      const task = yield* request("GET", `/v1/tasks/${response.json.task_uuid}`)
      assert.strictEqual(task.status, 200)
      assert.notInclude(["complete", "error"], task.json.status)
    }))
})
