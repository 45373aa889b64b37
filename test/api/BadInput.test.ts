/**
 * Bad input over real HTTP: malformed JSON, wrong types, missing fields, unknown templates, contexts failing the
 * input schema, invalid UUIDs, unknown filters, oversize bodies, SQL-looking strings, long unicode names, NUL
 * characters and deep nesting. Each is a 4xx in the error shape naming the field; the server stays up; nothing
 * is written (the row counts of every table a request writes are unchanged and no task is half written).
 * SQL-looking and unicode text in every text field is either a 404 naming the field (template coordinates) or
 * stored and returned verbatim.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import { TaskerClient } from "../../src/client/Client.ts"
import { halfTasks, tableCounts } from "../support/Integrity.ts"
import { apiTestLayer, assertError, request } from "./Support.ts"

const LINEAR = { namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0" } as const
const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const

interface Case {
  readonly label: string
  readonly method?: string
  readonly path?: string
  readonly body?: unknown
  readonly headers?: Record<string, string>
  readonly status: number
  readonly code: string
  readonly field?: string
}

const nested = (depth: number): unknown => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}

/**
 * What a bad request may not change: the row counts of every table a request writes (tasks, steps, edges, both
 * transition tables, namespaces, templates, step types, systems, queues), and no task may be left half written.
 */
const rowCounts = Effect.gen(function*() {
  return { counts: yield* tableCounts, halfTasks: yield* halfTasks }
})

const sqlish = "x'; DROP TABLE tasker_tasks; --"

const createCases: ReadonlyArray<Case> = [
  // malformed JSON and wrong body shapes
  { label: "truncated JSON", body: "{\"namespace\": ", status: 400, code: "INVALID_JSON", field: "body" },
  { label: "not JSON", body: "hello", status: 400, code: "INVALID_JSON", field: "body" },
  { label: "trailing garbage", body: "{}}", status: 400, code: "INVALID_JSON", field: "body" },
  { label: "empty body", body: "", status: 400, code: "BAD_REQUEST", field: "body" },
  { label: "array body", body: [1, 2], status: 400, code: "BAD_REQUEST", field: "body" },
  { label: "null body", body: "null", status: 400, code: "BAD_REQUEST", field: "body" },
  // missing fields
  { label: "empty object", body: {}, status: 400, code: "BAD_REQUEST", field: "namespace" },
  { label: "no version", body: { namespace: "a", name: "b" }, status: 400, code: "BAD_REQUEST", field: "version" },
  // wrong types
  { label: "numeric namespace", body: { ...LINEAR, namespace: 42 }, status: 400, code: "BAD_REQUEST", field: "namespace" },
  { label: "string priority", body: { ...LINEAR, priority: "high" }, status: 400, code: "BAD_REQUEST", field: "priority" },
  { label: "fractional priority", body: { ...LINEAR, priority: 1.5 }, status: 400, code: "BAD_REQUEST", field: "priority" },
  { label: "huge priority", body: { ...LINEAR, priority: 2 ** 40 }, status: 400, code: "BAD_REQUEST", field: "priority" },
  { label: "tags not an array", body: { ...LINEAR, tags: "x" }, status: 400, code: "BAD_REQUEST", field: "tags" },
  { label: "numeric tag", body: { ...LINEAR, tags: ["ok", 1] }, status: 400, code: "BAD_REQUEST", field: "tags.1" },
  { label: "array context", body: { ...LINEAR, context: [1, 2] }, status: 400, code: "BAD_REQUEST", field: "context" },
  { label: "string context", body: { ...LINEAR, context: "x" }, status: 400, code: "BAD_REQUEST", field: "context" },
  { label: "null context", body: { ...LINEAR, context: null }, status: 400, code: "BAD_REQUEST", field: "context" },
  { label: "numeric initiator", body: { ...LINEAR, initiator: 7 }, status: 400, code: "BAD_REQUEST", field: "initiator" },
  { label: "empty name", body: { ...LINEAR, name: "" }, status: 400, code: "BAD_REQUEST", field: "name" },
  // UUIDs
  {
    label: "bad correlation_id",
    body: { ...SUCCESS, correlation_id: "not-a-uuid" },
    status: 400,
    code: "INVALID_UUID",
    field: "correlation_id"
  },
  {
    label: "bad parent_correlation_id",
    body: { ...SUCCESS, parent_correlation_id: "123" },
    status: 400,
    code: "INVALID_UUID",
    field: "parent_correlation_id"
  },
  {
    label: "bad X-Correlation-ID",
    body: { ...SUCCESS, context: { case: "bad header" } },
    headers: { "X-Correlation-ID": "nope" },
    status: 400,
    code: "INVALID_UUID",
    field: "x-correlation-id"
  },
  // unknown templates, contexts failing the input schema
  {
    label: "unknown template",
    body: { ...LINEAR, name: "no_such_template" },
    status: 404,
    code: "NOT_FOUND",
    field: "name"
  },
  { label: "unknown version", body: { ...LINEAR, version: "9.9.9" }, status: 404, code: "NOT_FOUND", field: "version" },
  {
    label: "unknown namespace",
    body: { ...LINEAR, namespace: "nowhere" },
    status: 404,
    code: "NOT_FOUND",
    field: "namespace"
  },
  {
    label: "context string number",
    body: { ...LINEAR, context: { even_number: "6" } },
    status: 422,
    code: "VALIDATION_ERROR",
    field: "context.even_number"
  },
  {
    label: "context missing field",
    body: { ...LINEAR, context: {} },
    status: 422,
    code: "VALIDATION_ERROR",
    field: "context.even_number"
  },
  {
    label: "context fraction",
    body: { ...LINEAR, context: { even_number: 2.5 } },
    status: 422,
    code: "VALIDATION_ERROR",
    field: "context.even_number"
  },
  // SQL-looking strings
  { label: "SQL namespace", body: { ...LINEAR, namespace: sqlish }, status: 404, code: "NOT_FOUND", field: "namespace" },
  { label: "SQL name", body: { ...LINEAR, name: "' OR '1'='1" }, status: 404, code: "NOT_FOUND", field: "name" },
  {
    label: "SQL in context",
    body: { ...LINEAR, context: { even_number: sqlish } },
    status: 422,
    code: "VALIDATION_ERROR",
    field: "context.even_number"
  },
  // long unicode names, NUL characters, deep nesting
  { label: "long CJK name", body: { ...LINEAR, name: "名".repeat(10_000) }, status: 400, code: "BAD_REQUEST", field: "name" },
  {
    label: "long emoji namespace",
    body: { ...LINEAR, namespace: "😀".repeat(40) },
    status: 400,
    code: "BAD_REQUEST",
    field: "namespace"
  },
  { label: "long version", body: { ...LINEAR, version: "1.0.0-" + "ß".repeat(20) }, status: 400, code: "BAD_REQUEST", field: "version" },
  {
    label: "unicode name (fits)",
    body: { ...LINEAR, name: "é".repeat(64) },
    status: 404,
    code: "NOT_FOUND",
    field: "name"
  },
  { label: "long reason", body: { ...SUCCESS, reason: "ü".repeat(500) }, status: 400, code: "BAD_REQUEST", field: "reason" },
  { label: "long tag", body: { ...SUCCESS, tags: ["t".repeat(300)] }, status: 400, code: "BAD_REQUEST", field: "tags.0" },
  { label: "NUL in name", body: { ...LINEAR, name: "a\u0000b" }, status: 400, code: "BAD_REQUEST", field: "name" },
  {
    label: "NUL in context",
    body: { ...SUCCESS, context: { note: "a\u0000b" } },
    status: 400,
    code: "BAD_REQUEST",
    field: "context.note"
  },
  {
    label: "NUL in context key",
    body: { ...SUCCESS, context: { ["k\u0000"]: 1 } },
    status: 400,
    code: "BAD_REQUEST",
    field: "context.k\u0000"
  },
  {
    label: "NUL in idempotency key",
    body: { ...SUCCESS, idempotency_key: "\u0000" },
    status: 400,
    code: "BAD_REQUEST",
    field: "idempotency_key"
  },
  // oversize and unsupported bodies
  { label: "2 MiB of text", body: "x".repeat(2 * 1024 * 1024), status: 413, code: "PAYLOAD_TOO_LARGE", field: "body" },
  {
    label: "2 MiB context",
    body: { ...SUCCESS, context: { blob: "y".repeat(2 * 1024 * 1024) } },
    status: 413,
    code: "PAYLOAD_TOO_LARGE",
    field: "body"
  },
  {
    label: "text/plain",
    body: "namespace=x",
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    field: "content-type"
  }
]

const taskUuid = uuidv7()
const stepUuid = uuidv7()

const otherCases: ReadonlyArray<Case> = [
  // invalid UUIDs in paths
  { label: "GET task bad uuid", method: "GET", path: "/v1/tasks/123", status: 400, code: "INVALID_UUID", field: "task_uuid" },
  {
    label: "GET task SQL uuid",
    method: "GET",
    path: `/v1/tasks/${encodeURIComponent("' OR 1=1 --")}`,
    status: 400,
    code: "INVALID_UUID",
    field: "task_uuid"
  },
  {
    label: "GET task long uuid",
    method: "GET",
    path: `/v1/tasks/${"a".repeat(2000)}`,
    status: 400,
    code: "INVALID_UUID",
    field: "task_uuid"
  },
  { label: "DELETE bad uuid", method: "DELETE", path: "/v1/tasks/nope", status: 400, code: "INVALID_UUID", field: "task_uuid" },
  {
    label: "wait bad uuid",
    method: "GET",
    path: "/v1/tasks/nope/wait",
    status: 400,
    code: "INVALID_UUID",
    field: "task_uuid"
  },
  {
    label: "steps bad uuid",
    method: "GET",
    path: "/v1/tasks/nope/workflow_steps",
    status: 400,
    code: "INVALID_UUID",
    field: "task_uuid"
  },
  {
    label: "step bad step uuid",
    method: "GET",
    path: `/v1/tasks/${taskUuid}/workflow_steps/xyz`,
    status: 400,
    code: "INVALID_UUID",
    field: "step_uuid"
  },
  {
    label: "PATCH bad uuid",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/42`,
    body: { action: "retry" },
    status: 400,
    code: "INVALID_UUID",
    field: "step_uuid"
  },
  // PATCH bodies
  {
    label: "PATCH unknown action",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`,
    body: { action: "explode" },
    status: 400,
    code: "BAD_REQUEST",
    field: "action"
  },
  {
    label: "PATCH resolve without result",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`,
    body: { action: "resolve", resolved_by: "x", reason: "y" },
    status: 400,
    code: "BAD_REQUEST",
    field: "result_data"
  },
  {
    label: "PATCH resolve empty resolver",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`,
    body: { action: "resolve", result_data: 1, resolved_by: "", reason: "y" },
    status: 400,
    code: "BAD_REQUEST",
    field: "resolved_by"
  },
  {
    label: "PATCH malformed JSON",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`,
    body: "{action",
    status: 400,
    code: "INVALID_JSON",
    field: "body"
  },
  {
    label: "PATCH unknown step",
    method: "PATCH",
    path: `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`,
    body: { action: "retry" },
    status: 404,
    code: "NOT_FOUND",
    field: "step_uuid"
  },
  // query parameters
  { label: "unknown status", method: "GET", path: "/v1/tasks?status=finished", status: 400, code: "BAD_REQUEST", field: "status" },
  { label: "SQL status", method: "GET", path: `/v1/tasks?status=${encodeURIComponent(sqlish)}`, status: 400, code: "BAD_REQUEST", field: "status" },
  { label: "per_page too big", method: "GET", path: "/v1/tasks?per_page=101", status: 400, code: "BAD_REQUEST", field: "per_page" },
  { label: "per_page zero", method: "GET", path: "/v1/tasks?per_page=0", status: 400, code: "BAD_REQUEST", field: "per_page" },
  { label: "page zero", method: "GET", path: "/v1/tasks?page=0", status: 400, code: "BAD_REQUEST", field: "page" },
  { label: "page not a number", method: "GET", path: "/v1/tasks?page=abc", status: 400, code: "BAD_REQUEST", field: "page" },
  {
    label: "correlation filter not a uuid",
    method: "GET",
    path: "/v1/tasks?correlation_id=nope",
    status: 400,
    code: "INVALID_UUID",
    field: "correlation_id"
  },
  {
    label: "wait timeout negative",
    method: "GET",
    path: `/v1/tasks/${taskUuid}/wait?timeout_ms=-1`,
    status: 400,
    code: "BAD_REQUEST",
    field: "timeout_ms"
  },
  {
    label: "wait timeout too long",
    method: "GET",
    path: `/v1/tasks/${taskUuid}/wait?timeout_ms=999999`,
    status: 400,
    code: "BAD_REQUEST",
    field: "timeout_ms"
  },
  {
    label: "namespace filter too long",
    method: "GET",
    path: `/v1/tasks?namespace=${encodeURIComponent("名".repeat(100))}`,
    status: 400,
    code: "BAD_REQUEST",
    field: "namespace"
  },
  // unknown things
  { label: "unknown task", method: "GET", path: `/v1/tasks/${taskUuid}`, status: 404, code: "NOT_FOUND", field: "task_uuid" },
  { label: "unknown route", method: "GET", path: "/v2/tasks", status: 404, code: "NOT_FOUND" },
  { label: "unrouted method", method: "PUT", path: "/v1/tasks", body: {}, status: 404, code: "NOT_FOUND" },
  {
    label: "template NUL namespace",
    method: "GET",
    path: "/v1/templates/a%00b",
    status: 400,
    code: "BAD_REQUEST",
    field: "namespace"
  },
  {
    label: "template SQL namespace",
    method: "GET",
    path: `/v1/templates/${encodeURIComponent(sqlish)}`,
    status: 404,
    code: "NOT_FOUND",
    field: "namespace"
  }
]

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("REST API bad input", (it) => {
  it.effect("bad task requests are 4xx errors naming the field; nothing is written; the server stays up", () =>
    Effect.gen(function*() {
      const before = yield* rowCounts
      for (const c of createCases) {
        const response = yield* request("POST", "/v1/tasks", {
          body: c.body,
          ...(c.headers === undefined ? {} : { headers: c.headers })
        })
        assertError(response, c, c.label)
        assert.strictEqual((yield* request("GET", "/health")).status, 200, `server down after ${c.label}`)
      }
      assert.deepStrictEqual(yield* rowCounts, before)
    }))

  it.effect("deeply nested contexts are rejected, however deep", () =>
    Effect.gen(function*() {
      const before = yield* rowCounts
      const moderate = yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, context: nested(100) as never } })
      assertError(moderate, { status: 400, code: "BAD_REQUEST" }, "100 levels")
      assert.match(moderate.json.error.field, /^context(\.a)+$/)
      // 200 000 levels still fit in the body limit
      const deep = yield* request("POST", "/v1/tasks", {
        body: `{"namespace":"test_errors","name":"success_only","version":"1.0.0","context":{"a":${
          "[".repeat(200_000)
        }${"]".repeat(200_000)}}}`
      })
      assertError(deep, { status: 400, code: "BAD_REQUEST" }, "200 000 levels")
      assert.match(deep.json.error.field, /^context\.a(\.0)+$/)
      assert.strictEqual((yield* request("GET", "/health")).status, 200)
      assert.deepStrictEqual(yield* rowCounts, before)
    }))

  it.effect("bad paths, queries and step actions are 4xx errors naming the field", () =>
    Effect.gen(function*() {
      const before = yield* rowCounts
      for (const c of otherCases) {
        const response = yield* request(c.method!, c.path!, {
          ...(c.body === undefined ? {} : { body: c.body }),
          ...(c.headers === undefined ? {} : { headers: c.headers })
        })
        assertError(response, c, c.label)
        assert.strictEqual((yield* request("GET", "/health")).status, 200, `server down after ${c.label}`)
      }
      assert.deepStrictEqual(yield* rowCounts, before)
    }))

  it.effect("SQL-looking filters are plain values; the tables are intact and the server still works", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      for (const value of [sqlish, "' OR '1'='1", "%", "_", "\\", "名前"]) {
        const page = yield* client.listTasks({ namespace: value, name: value })
        assert.strictEqual(page.pagination.total_count, 0, value)
      }
      const created = yield* client.createTask({ ...SUCCESS, context: { note: sqlish, text: "名前 😀" } })
      assert.strictEqual(created.created, true)
      const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(done.status, "complete")
      assert.deepStrictEqual(done.context, { note: sqlish, text: "名前 😀" })
    }))

  it.effect("SQL-looking and unicode text in every text field is stored and returned verbatim, or is a 404 naming the field", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const texts = [sqlish, "' OR '1'='1", "$1", "\\x27; --", "名前 😀 \u202eRTL é\u0301", "%_\\"]
      // the template coordinates: looked up as values and not found (or too long for the field), the field named
      const limits = { namespace: 64, name: 64, version: 16 } as const
      for (const value of texts) {
        for (const field of ["namespace", "name", "version"] as const) {
          const response = yield* request("POST", "/v1/tasks", { body: { ...LINEAR, context: { even_number: 2 }, [field]: value } })
          const expected = value.length > limits[field]
            ? { status: 400, code: "BAD_REQUEST", field }
            : { status: 404, code: "NOT_FOUND", field }
          assertError(response, expected, `${field} = ${value}`)
        }
        for (const path of [`/v1/templates/${encodeURIComponent(value)}`, `/v1/templates/${LINEAR.namespace}/${encodeURIComponent(value)}`]) {
          assertError(yield* request("GET", path), { status: 404, code: "NOT_FOUND" }, path)
        }
      }
      // the free-text fields: stored as given
      const before = yield* tableCounts
      for (const [i, value] of texts.entries()) {
        const body = {
          ...SUCCESS,
          context: { [value]: value, nested: { list: [value] } },
          initiator: value,
          source_system: value,
          reason: value,
          tags: [value, `${value}-${i}`],
          idempotency_key: `${value}#${i}`
        }
        const created = yield* request("POST", "/v1/tasks", { body })
        assert.strictEqual(created.status, 201, `${value}: ${created.text}`)
        // the same idempotency key finds the same task: matched as a value
        const again = yield* request("POST", "/v1/tasks", { body: { ...body, context: {} } })
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual(again.json.task_uuid, created.json.task_uuid)
        const task = yield* client.getTask(created.json.task_uuid)
        assert.deepStrictEqual(
          [task.context, task.initiator, task.source_system, task.reason, task.tags],
          [body.context, value, value, value, body.tags],
          value
        )
        yield* client.waitForCompletion(created.json.task_uuid, { timeout: "20 seconds" })
      }
      // a failed step resolved by an operator whose reason and result are such text (resolved_by in the body is
      // ignored: the step records the caller's key id, `anonymous` with authentication off)
      for (const value of texts.slice(0, 2)) {
        const blocked = yield* client.createTask({ namespace: "api_test", name: "fragile", version: "1.0.0", context: { value } })
        yield* client.waitForCompletion(blocked.task_uuid, { timeout: "20 seconds" })
        const stepUuid = blocked.step_mapping["breaks"]!
        const path = `/v1/tasks/${blocked.task_uuid}/workflow_steps/${stepUuid}`
        const patched = yield* request("PATCH", path, {
          body: { action: "resolve", result_data: 3, resolved_by: value, reason: value }
        })
        assert.strictEqual(patched.status, 200, patched.text)
        const step = yield* request("GET", path)
        assert.strictEqual(step.json.results.metadata.resolved_by, "anonymous")
        assert.strictEqual(step.json.results.metadata.reason, value)
      }
      const after = yield* tableCounts
      assert.strictEqual(after.tasks, before.tasks! + texts.length + 2)
      assert.deepStrictEqual(yield* halfTasks, [])
      // the tables are all still there
      const sql = yield* SqlClient.SqlClient
      const [tables] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'tasker%'`
      assert.isAbove(tables!.n, 10)
    }))
})
