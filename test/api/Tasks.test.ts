/**
 * The REST API end to end over loopback HTTP, with the real engine on a fresh database: tasks created, awaited
 * and read through the typed client; listing with pagination and every filter; cancel, resolve and retry;
 * templates; health probes and the OpenAPI document.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import type { StepView, TaskDetail } from "../../src/api/Models.ts"
import { TaskerClient } from "../../src/client/Client.ts"
import { TaskStates } from "../../src/domain/TaskStateMachine.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { fixed } from "../support/Templates.ts"
import { apiTestLayer, assertError, baseUrl, countTasks, Fragile, request } from "./Support.ts"

const LINEAR = { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0" } as const
const errors = (name: string) => ({ namespace: "test_errors", name, version: "1.0.0" }) as const
const FRAGILE = { namespace: "api_test", name: "fragile", version: "1.0.0" } as const
const SLOW = { namespace: "api_test", name: "slow", version: "1.0.0" } as const
const ORPHAN = { namespace: "api_orphan", name: "orphan", version: "1.0.0" } as const

/** Registered by the test, hosted by no worker (no worker reads its namespace's queue either). */
const Orphan = Workflow.make({ ...ORPHAN, identityStrategy: "always_unique" }).step("only", { run: () => Effect.succeed(1) })

const stepNamed = (task: { readonly steps: ReadonlyArray<StepView> }, name: string): StepView => {
  const step = task.steps.find((s) => s.name === name)
  assert.isDefined(step, `no step ${name}`)
  return step!
}

/** The result a step produced (its result envelope's `result`). */
const resultOf = (step: StepView) => (step.results as { readonly result: unknown } | null)?.result

const claimsOf = (stepUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM tasker_workflow_step_transitions
      WHERE workflow_step_uuid = ${stepUuid} AND to_state = 'in_progress'`
    return row!.n
  })

/** Creates a task through the client and waits until it finished (or is blocked). */
const run = (template: { namespace: string; name: string; version: string }, context: Record<string, Schema.Json> = {}) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const created = yield* client.createTask({ ...template, context })
    yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
    return yield* client.getTask(created.task_uuid)
  })

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("REST API", (it) => {
  describe("tasks through the client", () => {
    it.effect("creates a linear task, waits for it and reads it with its steps and exact results", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const created = yield* client.createTask({
          ...LINEAR,
          context: { even_number: 6 },
          initiator: "api-test",
          source_system: "vitest",
          reason: "end to end",
          tags: ["math", "linear"],
          priority: 3
        })
        assert.isTrue(created.created)
        assert.strictEqual(created.step_count, 4)
        assert.deepStrictEqual(Object.keys(created.step_mapping).sort(), [
          "linear_step_1",
          "linear_step_2",
          "linear_step_3",
          "linear_step_4"
        ])
        assert.instanceOf(created.created_at, Date)

        const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(done.status, "complete")

        const task = yield* client.getTask(created.task_uuid)
        assert.strictEqual(task.task_uuid, created.task_uuid)
        assert.deepStrictEqual([task.namespace, task.name, task.version], [LINEAR.namespace, LINEAR.name, LINEAR.version])
        assert.strictEqual(task.status, "complete")
        assert.isTrue(task.complete)
        assert.deepStrictEqual(task.context, { even_number: 6 })
        assert.deepStrictEqual(task.tags, ["math", "linear"])
        assert.deepStrictEqual([task.initiator, task.source_system, task.reason, task.priority], [
          "api-test",
          "vitest",
          "end to end",
          3
        ])
        assert.strictEqual(task.correlation_id, created.correlation_id)
        assert.isNull(task.parent_correlation_id)
        assert.instanceOf(task.completed_at, Date)
        assert.instanceOf(task.requested_at, Date)
        assert.deepStrictEqual(
          [task.execution.total_steps, task.execution.completed_steps, task.execution.completion_percentage],
          [4, 4, 100]
        )
        assert.strictEqual(task.execution.execution_status, "all_complete")
        assert.strictEqual(task.execution.health_status, "healthy")

        // roots first, each step complete after one attempt with n^(2^k)
        assert.deepStrictEqual(task.steps.map((s) => s.name), [
          "linear_step_1",
          "linear_step_2",
          "linear_step_3",
          "linear_step_4"
        ])
        const expected = [6n ** 2n, 6n ** 4n, 6n ** 8n, 6n ** 16n].map(String)
        task.steps.forEach((step, i) => {
          assert.strictEqual(step.current_state, "complete")
          assert.strictEqual(step.attempts, 1)
          assert.strictEqual(step.step_uuid, created.step_mapping[step.name])
          assert.strictEqual(resultOf(step), expected[i])
          assert.isTrue(step.dependencies_satisfied)
          assert.strictEqual(step.total_parents, i === 0 ? 0 : 1)
          assert.instanceOf(step.completed_at, Date)
        })
        assert.strictEqual(resultOf(stepNamed(task, "linear_step_4")), "2821109907456")

        const steps = yield* client.listSteps(created.task_uuid)
        assert.deepStrictEqual(steps.map((s) => s.step_uuid), task.steps.map((s) => s.step_uuid))
        const last = yield* client.getStep(created.task_uuid, created.step_mapping.linear_step_4!)
        assert.strictEqual(resultOf(last), "2821109907456")
      }))

    it.effect("TaskerClient.layerNode makes the same typed calls over undici: create, long-poll wait, read, a typed 404", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const program = Effect.gen(function*() {
          const client = yield* TaskerClient
          assert.strictEqual((yield* client.health).status, "healthy")
          const created = yield* client.createTask({ ...LINEAR, context: { even_number: 4 } })
          assert.isTrue(created.created)
          const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
          assert.strictEqual(done.status, "complete")
          const read = yield* client.getTask(created.task_uuid)
          assert.strictEqual(read.task_uuid, created.task_uuid)
          assert.strictEqual(read.steps.length, 4)
          const missing = yield* Effect.flip(client.getTask(uuidv7()))
          assert.strictEqual(missing._tag, "ApiNotFound")
        })
        yield* program.pipe(Effect.provide(TaskerClient.layerNode({ baseUrl: url })))
      }))

    it.effect("a duplicate request returns the existing task with 200 and created: false", () =>
      Effect.gen(function*() {
        const body = { ...LINEAR, context: { even_number: 10 } }
        const before = yield* countTasks
        const first = yield* request("POST", "/v1/tasks", { body })
        assert.strictEqual(first.status, 201)
        assert.isTrue(first.json.created)
        const second = yield* request("POST", "/v1/tasks", { body })
        assert.strictEqual(second.status, 200)
        assert.isFalse(second.json.created)
        assert.strictEqual(second.json.task_uuid, first.json.task_uuid)
        assert.strictEqual(second.json.correlation_id, first.json.correlation_id)
        assert.deepStrictEqual(second.json.step_mapping, first.json.step_mapping)
        assert.strictEqual(yield* countTasks, before + 1)

        const client = yield* TaskerClient
        const third = yield* client.createTask(body)
        assert.isFalse(third.created)
        assert.strictEqual(third.task_uuid, first.json.task_uuid)
      }))

    it.effect("POST /v1/tasks/batch creates the tasks in order, or none when one is refused (naming it)", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const before = yield* countTasks
        const batch = yield* client.createTasks([
          { ...LINEAR, context: { even_number: 20 } },
          { ...LINEAR, context: { even_number: 22 } },
          { ...LINEAR, context: { even_number: 20 } }
        ])
        assert.deepStrictEqual(batch.tasks.map((t) => t.created), [true, true, false])
        assert.strictEqual(batch.tasks[2]!.task_uuid, batch.tasks[0]!.task_uuid)
        assert.strictEqual(yield* countTasks, before + 2)
        const done = yield* client.waitForCompletion(batch.tasks[1]!.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(done.status, "complete")

        const invalid = yield* request("POST", "/v1/tasks/batch", {
          body: { tasks: [{ ...LINEAR, context: { even_number: 24 } }, { ...LINEAR, context: { even_number: "x" } }] }
        })
        assertError(invalid, { status: 422, code: "VALIDATION_ERROR", field: "tasks.1.context.even_number" })
        const unknown = yield* request("POST", "/v1/tasks/batch", {
          body: { tasks: [{ ...LINEAR, context: { even_number: 26 } }, { ...LINEAR, name: "no_such_template" }] }
        })
        assertError(unknown, { status: 404, code: "NOT_FOUND", field: "tasks.1.name" })
        // a batch of one is still a batch: its fields are named by position
        const unknownAlone = yield* request("POST", "/v1/tasks/batch", { body: { tasks: [{ ...LINEAR, name: "no_such_template" }] } })
        assertError(unknownAlone, { status: 404, code: "NOT_FOUND", field: "tasks.0.name" })
        const empty = yield* request("POST", "/v1/tasks/batch", { body: { tasks: [] } })
        assertError(empty, { status: 400, code: "BAD_REQUEST", field: "tasks" })
        const tooMany = yield* request("POST", "/v1/tasks/batch", {
          body: { tasks: Array.from({ length: 1001 }, () => ({ ...LINEAR, context: { even_number: 2 } })) }
        })
        assertError(tooMany, { status: 400, code: "BAD_REQUEST", field: "tasks" })
        assert.strictEqual(yield* countTasks, before + 2)
      }))

    it.effect("X-Correlation-ID is the correlation id unless the body has one", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const header = uuidv7()
        const fromHeader = yield* client.createTask(
          { ...errors("success_only"), context: { case: "header" } },
          { correlationId: header }
        )
        assert.strictEqual(fromHeader.correlation_id, header)

        const body = uuidv7()
        const fromBody = yield* request("POST", "/v1/tasks", {
          body: { ...errors("success_only"), context: { case: "body" }, correlation_id: body },
          headers: { "X-Correlation-ID": uuidv7() }
        })
        assert.strictEqual(fromBody.status, 201)
        assert.strictEqual(fromBody.json.correlation_id, body)

        const charset = yield* request("POST", "/v1/tasks", {
          body: { ...errors("success_only"), context: { case: "charset" } },
          headers: { "content-type": "application/json; charset=utf-8" }
        })
        assert.strictEqual(charset.status, 201, charset.text)

        const generated = yield* client.createTask({ ...errors("success_only"), context: { case: "none" } })
        assert.match(generated.correlation_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/)
      }))

    it.effect("waitForCompletion long-polls or polls, and times out with TaskWaitTimeout", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const a = yield* client.createTask({ ...LINEAR, context: { even_number: 12 } })
        const polled = yield* client.waitForCompletion(a.task_uuid, { timeout: "20 seconds", strategy: "poll" })
        assert.strictEqual(polled.status, "complete")

        const slow = yield* client.createTask({ ...SLOW, context: {} })
        for (const strategy of ["long-poll", "poll"] as const) {
          const started = Date.now()
          const timeout = yield* Effect.flip(client.waitForCompletion(slow.task_uuid, { timeout: "300 millis", strategy }))
          assert.strictEqual(timeout._tag, "TaskWaitTimeout")
          const elapsed = Date.now() - started
          assert.isAtLeast(elapsed, 250, strategy)
          assert.isBelow(elapsed, 1500, strategy)
        }
        const finished = yield* client.waitForCompletion(slow.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(finished.status, "complete")

        const raw = yield* request("GET", `/v1/tasks/${slow.task_uuid}/wait?timeout_ms=0`)
        assert.strictEqual(raw.status, 200)
        assert.isTrue(raw.json.finished)
        assert.strictEqual(raw.json.task.status, "complete")
      }))

    it.effect("waitForCompletion falls back to polling when the server has no wait endpoint", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const requested: Array<string> = []
        // a client whose long-poll requests hit a route the server does not have (as with an older server)
        const legacy = TaskerClient.layerFetch({
          baseUrl: url,
          transformClient: HttpClient.mapRequest((req) => {
            requested.push(req.url)
            return req.url.includes("/wait") ? HttpClientRequest.setUrl(req, req.url.replace("/wait", "/no-wait")) : req
          })
        })
        const task = yield* Effect.gen(function*() {
          const client = yield* TaskerClient
          const created = yield* client.createTask({ ...LINEAR, context: { even_number: 16 } })
          return yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
        }).pipe(Effect.provide(legacy))
        assert.strictEqual(task.status, "complete")
        assert.strictEqual(requested.filter((u) => u.includes("/wait")).length, 1)
        assert.isAtLeast(requested.filter((u) => /\/v1\/tasks\/[0-9a-f-]+$/.test(u)).length, 1)

        // an unknown task is an error, not a reason to poll
        const unknown = yield* Effect.flip(Effect.gen(function*() {
          return yield* (yield* TaskerClient).waitForCompletion(uuidv7(), { timeout: "5 seconds" })
        }))
        assert.strictEqual(unknown._tag, "ApiNotFound")
      }))

    it.effect("a context the input schema refuses is a 422 naming the field, alone or in a batch; nothing is written", () =>
      Effect.gen(function*() {
        const before = yield* countTasks
        const odd = yield* request("POST", "/v1/tasks", { body: { ...LINEAR, context: { even_number: 7 } } })
        assertError(odd, { status: 422, code: "VALIDATION_ERROR", field: "context.even_number" })
        assert.strictEqual(odd.json.error.message, "context.even_number: Expected an even number, got 7")

        const batch = yield* request("POST", "/v1/tasks/batch", {
          body: { tasks: [2, 4, 6, 7].map((n) => ({ ...LINEAR, context: { even_number: n } })) }
        })
        assertError(batch, { status: 422, code: "VALIDATION_ERROR", field: "tasks.3.context.even_number" })
        assert.strictEqual(batch.json.error.message, "tasks.3.context.even_number: Expected an even number, got 7")

        const typed = yield* Effect.flip(Effect.flatMap(TaskerClient, (c) => c.createTask({ ...LINEAR, context: { even_number: 7 } })))
        assert.strictEqual(typed._tag, "ApiValidationError")
        assert.strictEqual(yield* countTasks, before)
      }))

    it.effect("a task whose template no live worker hosts is accepted with a no_live_worker warning, in its answer and its view", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        yield* (yield* TemplateRegistry).register(Orphan)
        const warning = {
          code: "no_live_worker" as const,
          message: "no live worker hosts api_orphan/orphan@1.0.0: the task waits until a worker that hosts it starts"
        }
        const created = yield* request("POST", "/v1/tasks", { body: ORPHAN })
        assert.strictEqual(created.status, 201)
        assert.deepStrictEqual(created.json.warnings, [warning])
        const view = yield* client.getTask(created.json.task_uuid)
        assert.strictEqual(view.status, "steps_in_process")
        assert.deepStrictEqual(view.warnings, [warning])

        // a hosted template's task has no warnings (the key is left out), nor has its view
        const hosted = yield* request("POST", "/v1/tasks", { body: { ...LINEAR, context: { even_number: 30 } } })
        assert.strictEqual(hosted.status, 201)
        assert.notProperty(hosted.json, "warnings")
        const done = yield* client.waitForCompletion(hosted.json.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(done.status, "complete")
        assert.notProperty(yield* client.getTask(hosted.json.task_uuid), "warnings")

        const batch = yield* client.createTasks([{ ...LINEAR, context: { even_number: 32 } }, ORPHAN])
        assert.deepStrictEqual(batch.tasks.map((t) => t.warnings?.map((w) => w.code)), [undefined, ["no_live_worker"]])
      }))

    it.effect("typed errors: unknown task or template, context failing the input schema", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const missing = yield* Effect.flip(client.getTask(uuidv7()))
        assert.strictEqual(missing._tag, "ApiNotFound")
        if (missing._tag === "ApiNotFound") assert.strictEqual(missing.error.field, "task_uuid")

        const template = yield* Effect.flip(client.createTask({ ...LINEAR, name: "no_such_template" }))
        assert.strictEqual(template._tag, "ApiNotFound")

        const invalid = yield* Effect.flip(client.createTask({ ...LINEAR, context: { even_number: "six" } }))
        assert.strictEqual(invalid._tag, "ApiValidationError")
        if (invalid._tag === "ApiValidationError") {
          assert.strictEqual(invalid.error.code, "VALIDATION_ERROR")
          assert.strictEqual(invalid.error.field, "context.even_number")
        }

        const otherTask = yield* client.createTask({ ...errors("success_only"), context: { case: "other" } })
        const linear = yield* client.createTask({ ...LINEAR, context: { even_number: 14 } })
        const wrongStep = yield* Effect.flip(client.getStep(otherTask.task_uuid, linear.step_mapping.linear_step_1!))
        assert.strictEqual(wrongStep._tag, "ApiNotFound")
        if (wrongStep._tag === "ApiNotFound") assert.strictEqual(wrongStep.error.field, "step_uuid")
        const noSteps = yield* Effect.flip(client.listSteps(uuidv7()))
        assert.strictEqual(noSteps._tag, "ApiNotFound")
      }))
  })

  describe("listing", () => {
    it.effect("pages newest first and filters by namespace, name, status and correlation ids", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const parent = uuidv7()
        const created: Array<string> = []
        const correlations: Array<string> = []
        for (let i = 0; i < 5; i++) {
          const correlation = uuidv7()
          const task = yield* client.createTask({
            ...errors("success_only"),
            context: { listing: i },
            parent_correlation_id: parent,
            correlation_id: correlation
          })
          created.push(task.task_uuid)
          correlations.push(correlation)
        }
        const blocked = yield* client.createTask({
          ...errors("permanent_error_only"),
          context: { listing: "blocked" },
          parent_correlation_id: parent
        })
        for (const uuid of [...created, blocked.task_uuid]) {
          yield* client.waitForCompletion(uuid, { timeout: "20 seconds" })
        }
        const newestFirst = [blocked.task_uuid, ...[...created].reverse()]

        // pagination over the 6 tasks of this parent
        const all = yield* client.listTasks({ parent_correlation_id: parent })
        assert.deepStrictEqual(all.tasks.map((t) => t.task_uuid), newestFirst)
        assert.deepStrictEqual(all.pagination, {
          page: 1,
          per_page: 25,
          total_count: 6,
          total_pages: 1,
          has_next: false,
          has_previous: false
        })
        const pages = []
        for (const page of [1, 2, 3, 4]) {
          pages.push(yield* client.listTasks({ parent_correlation_id: parent, page, per_page: 2 }))
        }
        assert.deepStrictEqual(pages.map((p) => p.tasks.length), [2, 2, 2, 0])
        assert.deepStrictEqual(pages.flatMap((p) => p.tasks.map((t) => t.task_uuid)), newestFirst)
        assert.deepStrictEqual(pages.map((p) => [p.pagination.has_previous, p.pagination.has_next]), [
          [false, true],
          [true, true],
          [true, false],
          [true, false]
        ])
        assert.isTrue(pages.every((p) => p.pagination.total_count === 6 && p.pagination.total_pages === 3))

        // every filter
        const count = (query: Parameters<typeof client.listTasks>[0]) =>
          Effect.map(client.listTasks(query), (page) => page.pagination.total_count)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, namespace: "test_errors" }), 6)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, namespace: "rust_e2e_linear" }), 0)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, name: "success_only" }), 5)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, name: "permanent_error_only" }), 1)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, status: "complete" }), 5)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, status: "blocked_by_failures" }), 1)
        assert.strictEqual(yield* count({ parent_correlation_id: parent, status: "pending" }), 0)
        const byCorrelation = yield* client.listTasks({ correlation_id: correlations[2]! })
        assert.deepStrictEqual(byCorrelation.tasks.map((t) => t.task_uuid), [created[2]!])
        assert.strictEqual(byCorrelation.tasks[0]!.parent_correlation_id, parent)
        assert.strictEqual(yield* count({ parent_correlation_id: uuidv7() }), 0)
        assert.strictEqual(
          yield* count({ namespace: "test_errors", name: "success_only", status: "complete", parent_correlation_id: parent }),
          5
        )

        // every task state is a valid filter (through the raw API too)
        for (const status of TaskStates) {
          const response = yield* request("GET", `/v1/tasks?status=${status}&parent_correlation_id=${parent}`)
          assert.strictEqual(response.status, 200, status)
          assert.isTrue(response.json.tasks.every((t: { status: string }) => t.status === status), status)
        }
        const overall = yield* client.listTasks()
        assert.isAtLeast(overall.pagination.total_count, 6)
        const uuids = overall.tasks.map((t) => t.task_uuid)
        assert.deepStrictEqual(uuids, [...uuids].sort().reverse())
      }))
  })

  describe("operator actions", () => {
    it.effect("cancel: a running task is cancelled; a finished or unknown one is a 409 or 404", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const slow = yield* client.createTask({ ...SLOW, context: {} })
        const cancelled = yield* client.cancelTask(slow.task_uuid)
        assert.strictEqual(cancelled.status, "cancelled")
        const task = yield* client.getTask(slow.task_uuid)
        assert.isTrue(task.steps.every((s) => s.current_state === "cancelled"))

        const again = yield* request("DELETE", `/v1/tasks/${slow.task_uuid}`)
        assertError(again, { status: 409, code: "CONFLICT" })
        const done = yield* run(errors("success_only"), { cancel: "done" })
        assertError(yield* request("DELETE", `/v1/tasks/${done.task_uuid}`), { status: 409, code: "CONFLICT" })
        assertError(yield* request("DELETE", `/v1/tasks/${uuidv7()}`), { status: 404, code: "NOT_FOUND", field: "task_uuid" })

        // a blocked task can be cancelled
        const blocked = yield* run(errors("permanent_error_only"), { cancel: "blocked" })
        assert.strictEqual(blocked.status, "blocked_by_failures")
        assert.strictEqual((yield* client.cancelTask(blocked.task_uuid)).status, "cancelled")
      }))

    it.effect("retry a failed step (test_errors permanent_error_only): it runs again", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const task = yield* run(errors("permanent_error_only"), { retry: 1 })
        assert.strictEqual(task.status, "blocked_by_failures")
        assert.strictEqual(task.execution.health_status, "blocked")
        const step = stepNamed(task, "permanent_error_step")
        assert.deepStrictEqual([step.current_state, step.attempts], ["error", 1])

        const retried = yield* client.retryStep(task.task_uuid, step.step_uuid)
        assert.strictEqual(retried.step_uuid, step.step_uuid)
        // (the re-run may already have failed again by the time the response is built: its state can be anything)
        const again = yield* client.waitForCompletion(task.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(again.status, "blocked_by_failures")
        assert.strictEqual(yield* claimsOf(step.step_uuid), 2)
        const after = yield* client.getStep(task.task_uuid, step.step_uuid)
        assert.deepStrictEqual([after.current_state, after.attempts], ["error", 1])
      }))

    it.effect("resolve a failed step (permanent_error_only): the task completes", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const task = yield* run(errors("permanent_error_only"), { resolve: 1 })
        const step = stepNamed(task, "permanent_error_step")
        const resolved = yield* client.resolveStep(task.task_uuid, step.step_uuid, {
          resultData: { fixed: true },
          resolvedBy: "operator",
          reason: "handled by hand"
        })
        assert.strictEqual(resolved.current_state, "resolved_manually")
        assert.deepStrictEqual(resultOf(resolved), { fixed: true })
        const done = yield* client.waitForCompletion(task.task_uuid, { timeout: "20 seconds" })
        assert.strictEqual(done.status, "complete")
      }))

    it.effect("a resolved step's result_data reaches its dependents; a retry after a fix completes the task", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const resolvedTask = yield* run(FRAGILE)
        assert.strictEqual(resolvedTask.status, "blocked_by_failures")
        const breaks = stepNamed(resolvedTask, "breaks")
        const patched = yield* request("PATCH", `/v1/tasks/${resolvedTask.task_uuid}/workflow_steps/${breaks.step_uuid}`, {
          body: { action: "resolve", result_data: 7, resolved_by: "ops", reason: "fixed upstream" }
        })
        assert.strictEqual(patched.status, 200)
        assert.strictEqual(patched.json.current_state, "resolved_manually")
        yield* client.waitForCompletion(resolvedTask.task_uuid, { timeout: "20 seconds" })
        const afterResolve: TaskDetail = yield* client.getTask(resolvedTask.task_uuid)
        assert.strictEqual(afterResolve.status, "complete")
        assert.strictEqual(resultOf(stepNamed(afterResolve, "last")), 70)

        const retriedTask = yield* run(FRAGILE)
        fixed.add(retriedTask.task_uuid)
        yield* client.retryStep(retriedTask.task_uuid, stepNamed(retriedTask, "breaks").step_uuid)
        yield* client.waitForCompletion(retriedTask.task_uuid, { timeout: "20 seconds" })
        const afterRetry = yield* client.getTask(retriedTask.task_uuid)
        assert.strictEqual(afterRetry.status, "complete")
        assert.strictEqual(resultOf(stepNamed(afterRetry, "last")), 20)

        // steps in a state that does not allow the action
        const first = stepNamed(afterRetry, "first")
        const path = `/v1/tasks/${afterRetry.task_uuid}/workflow_steps/${first.step_uuid}`
        assertError(yield* request("PATCH", path, { body: { action: "retry" } }), { status: 409, code: "CONFLICT" })
        const resolveComplete = yield* Effect.flip(
          client.resolveStep(afterRetry.task_uuid, first.step_uuid, { resultData: 1, resolvedBy: "x", reason: "y" })
        )
        assert.strictEqual(resolveComplete._tag, "ApiConflict")
        // a step of another task
        assertError(
          yield* request("PATCH", `/v1/tasks/${resolvedTask.task_uuid}/workflow_steps/${first.step_uuid}`, {
            body: { action: "retry" }
          }),
          { status: 404, code: "NOT_FOUND", field: "step_uuid" }
        )
        const explode = yield* request("PATCH", path, { body: { action: "explode" } })
        assertError(explode, { status: 400, code: "BAD_REQUEST", field: "action" })
        assert.strictEqual(explode.json.error.message, `invalid body field action: expected "resolve" or "retry"`)
      }))

    it.effect("a step action's errors: every missing field at once, what the action would have done", () =>
      Effect.gen(function*() {
        const task = yield* run(errors("success_only"), { actions: "errors" })
        const step = task.steps[0]!
        const path = `/v1/tasks/${task.task_uuid}/workflow_steps/${step.step_uuid}`
        const missing = yield* request("PATCH", path, { body: { action: "resolve" } })
        assertError(missing, { status: 400, code: "BAD_REQUEST", field: "result_data" })
        assert.strictEqual(missing.json.error.message, "invalid body fields result_data, reason: Missing key")
        const mixed = yield* request("PATCH", path, { body: { action: "resolve", result_data: 1, resolved_by: "" } })
        assertError(mixed, { status: 400, code: "BAD_REQUEST", field: "resolved_by" })
        assert.match(mixed.json.error.message, /^invalid body fields: resolved_by: .+; reason: Missing key$/)

        const retry = yield* request("PATCH", path, { body: { action: "retry" } })
        assertError(retry, { status: 409, code: "CONFLICT", field: "action" })
        assert.strictEqual(retry.json.error.message, `step ${step.step_uuid} cannot be retried in state complete`)
        const resolve = yield* request("PATCH", path, {
          body: { action: "resolve", result_data: 1, resolved_by: "ops", reason: "none" }
        })
        assertError(resolve, { status: 409, code: "CONFLICT", field: "action" })
        assert.strictEqual(resolve.json.error.message, `step ${step.step_uuid} cannot be resolved in state complete`)
      }))
  })

  describe("templates", () => {
    it.effect("lists namespaces and templates; a template's versions come newest last", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const index = yield* client.listTemplates
        const namespaces = Object.fromEntries(index.namespaces.map((n) => [n.name, n.template_count]))
        assert.strictEqual(namespaces.rust_e2e_linear, 1)
        assert.strictEqual(namespaces.test_errors, 4)
        const linear = index.templates.find((t) => t.namespace === LINEAR.namespace && t.name === LINEAR.name)
        assert.deepStrictEqual(linear?.step_names, ["linear_step_1", "linear_step_2", "linear_step_3", "linear_step_4"])
        assert.strictEqual(linear?.version, "1.0.0")

        const ns = yield* client.namespaceTemplates("test_errors")
        assert.deepStrictEqual(ns.templates.map((t) => t.name).sort(), [
          "permanent_error_only",
          "retryable_error_exhausted",
          "retryable_error_success",
          "success_only"
        ])

        const registry = yield* TemplateRegistry
        yield* registry.register({ ...Fragile, version: "1.1.0" })
        const versions = yield* client.templateVersions("api_test", "fragile")
        assert.deepStrictEqual(versions.versions.map((v) => v.version), ["1.0.0", "1.1.0"])
        const configuration = versions.versions[0]!.configuration as { steps: Array<{ name: string }> }
        assert.deepStrictEqual(configuration.steps.map((s) => s.name), ["first", "breaks", "last"])

        assertError(yield* request("GET", "/v1/templates/no_such_namespace"), {
          status: 404,
          code: "NOT_FOUND",
          field: "namespace"
        })
        assertError(yield* request("GET", "/v1/templates/test_errors/no_such_name"), {
          status: 404,
          code: "NOT_FOUND",
          field: "name"
        })
      }))
  })

  describe("health and documentation", () => {
    it.effect("/health, /live and /ready answer; /ready checks the database and the engine", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        assert.strictEqual((yield* client.health).status, "healthy")
        assert.strictEqual((yield* client.live).status, "alive")
        const ready = yield* request("GET", "/ready")
        assert.strictEqual(ready.status, 200)
        assert.strictEqual(ready.json.status, "ready")
        assert.strictEqual(ready.json.checks.database.status, "ok")
        assert.strictEqual(ready.json.checks.engine.status, "ok")
        assert.strictEqual((yield* client.ready).status, "ready")
      }))

    it.effect("serves the OpenAPI document and a docs page", () =>
      Effect.gen(function*() {
        const doc = yield* request("GET", "/openapi.json")
        assert.strictEqual(doc.status, 200)
        assert.match(doc.json.openapi, /^3\./)
        for (const path of [
          "/v1/tasks",
          "/v1/tasks/{task_uuid}",
          "/v1/tasks/{task_uuid}/wait",
          "/v1/tasks/{task_uuid}/workflow_steps",
          "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}",
          "/v1/templates",
          "/v1/templates/{namespace}",
          "/v1/templates/{namespace}/{name}",
          "/health",
          "/live",
          "/ready"
        ]) {
          assert.property(doc.json.paths, path)
        }
        const create = doc.json.paths["/v1/tasks"].post
        assert.includeMembers(Object.keys(create.responses), ["200", "201", "400", "404", "413", "422"])
        assert.includeMembers(Object.keys(doc.json.components.securitySchemes), ["bearer", "apiKey"])

        const docs = yield* request("GET", "/docs")
        assert.strictEqual(docs.status, 200)
        assert.include(docs.contentType, "text/html")
      }))
  })
})
