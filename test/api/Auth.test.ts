/**
 * Authentication on (a configured token): requests to `/v1` without the token or with a wrong one are 401s that
 * write nothing — every secured operation of the OpenAPI document (which must include every mutating one) is tried
 * on a real task and step, and the tables and the task are compared before and after; the bearer header and `X-API-Key` both work; the probes and the documentation stay open. And
 * `/ready` answers 503 with its checks when this process's engine is not running. `GET /v1/ui_config` says
 * authentication is required with the token, and with API keys alone (no token).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { ApiKeys } from "../../src/db/ApiKeys.ts"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import { TaskerClient } from "../../src/client/Client.ts"
import { halfTasks, tableCounts } from "../support/Integrity.ts"
import { apiTestLayer, assertError, baseUrl, countTasks, request } from "./Support.ts"

const TOKEN = "s3cret-token-for-tests"
const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const
const FRAGILE = { namespace: "api_test", name: "fragile", version: "1.0.0" } as const

layer(apiTestLayer({ token: Redacted.make(TOKEN) }, { token: TOKEN }), {
  excludeTestServices: true,
  timeout: "120 seconds"
})("REST API with authentication", (it) => {
  it.effect("requests without a valid token are 401s and write nothing", () =>
    Effect.gen(function*() {
      const before = yield* countTasks
      const body = { ...SUCCESS, context: { auth: "denied" } }
      const attempts: ReadonlyArray<[string, Record<string, string>]> = [
        ["no token", {}],
        ["wrong bearer", { authorization: "Bearer wrong" }],
        ["empty bearer", { authorization: "Bearer " }],
        ["token without scheme", { authorization: TOKEN }],
        ["basic scheme", { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}` }],
        ["wrong api key", { "x-api-key": "wrong" }],
        ["token prefix", { "x-api-key": TOKEN.slice(0, -1) }],
        ["token with suffix", { authorization: `Bearer ${TOKEN}x` }]
      ]
      for (const [label, headers] of attempts) {
        assertError(yield* request("POST", "/v1/tasks", { body, headers }), { status: 401, code: "UNAUTHORIZED" }, label)
        assertError(yield* request("GET", "/v1/tasks", { headers }), { status: 401, code: "UNAUTHORIZED" }, label)
        assertError(yield* request("GET", "/v1/templates", { headers }), { status: 401, code: "UNAUTHORIZED" }, label)
      }
      // authentication comes before the body is even decoded
      assertError(yield* request("POST", "/v1/tasks", { body: "{not json" }), { status: 401, code: "UNAUTHORIZED" })
      assertError(yield* request("DELETE", "/v1/tasks/not-a-uuid"), { status: 401, code: "UNAUTHORIZED" })
      assert.strictEqual(yield* countTasks, before)

      // a client without the token gets a typed 401
      const url = yield* baseUrl
      const anonymous = yield* Effect.flip(
        Effect.gen(function*() {
          return yield* (yield* TaskerClient).listTasks()
        }).pipe(
          Effect.provide(TaskerClient.layerFetch({ baseUrl: url }))
        )
      )
      assert.strictEqual(anonymous._tag, "ApiUnauthorized")
      assert.strictEqual(yield* countTasks, before)
    }))

  it.effect("every /v1 endpoint, on real tasks and steps, is a 401 without a valid token and touches nothing", () =>
    Effect.gen(function*() {
      const authorized = { authorization: `Bearer ${TOKEN}` }
      // a task blocked by its failed step: cancel, retry and resolve would all change it
      const created = yield* request("POST", "/v1/tasks", { body: { ...FRAGILE, context: { auth: "target" } }, headers: authorized })
      assert.strictEqual(created.status, 201, created.text)
      const taskUuid: string = created.json.task_uuid
      const stepUuid: string = created.json.step_mapping.breaks
      const client = yield* TaskerClient
      const blocked = yield* client.waitForCompletion(taskUuid, { timeout: "20 seconds" })
      assert.strictEqual(blocked.status, "blocked_by_failures")

      // every operation the API documents as secured, from its OpenAPI document
      const doc = yield* request("GET", "/openapi.json")
      const operations = Object.entries(doc.json.paths as Record<string, Record<string, { security?: ReadonlyArray<unknown> }>>)
        .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })))
      const secured = operations.filter((o) => (o.op.security ?? []).length > 0)
      const mutating = operations.filter((o) => ["POST", "PUT", "PATCH", "DELETE"].includes(o.method))
      // every mutating endpoint is secured, and the three known ones are among them
      assert.deepStrictEqual(mutating.filter((o) => !secured.includes(o)), [])
      assert.includeMembers(mutating.map((o) => `${o.method} ${o.path}`), [
        "POST /v1/tasks",
        "DELETE /v1/tasks/{task_uuid}",
        "PATCH /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}"
      ])
      assert.isTrue(secured.every((o) => o.path.startsWith("/v1/") || o.path === "/ready"))
      assert.isAtLeast(secured.length, 10, secured.map((o) => `${o.method} ${o.path}`).join(", "))

      const bodyOf = (method: string, path: string) =>
        method === "POST"
          ? { ...SUCCESS, context: { auth: "denied" } }
          : method === "PATCH" && path.includes("workflow_steps")
          ? { action: "resolve", result_data: 1, resolved_by: "intruder", reason: "no token" }
          : undefined
      const fill = (path: string) =>
        path.replace("{task_uuid}", taskUuid).replace("{step_uuid}", stepUuid).replace("{namespace}", FRAGILE.namespace)
          .replace("{name}", FRAGILE.name)
      const snapshot = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const task = yield* sql`SELECT current_state, complete, updated_at FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
        const steps = yield* sql`SELECT workflow_step_uuid, current_state, attempts, results, updated_at
                                 FROM tasker_workflow_steps WHERE task_uuid = ${taskUuid} ORDER BY workflow_step_uuid`
        return { counts: yield* tableCounts, task, steps, problems: yield* halfTasks }
      })
      const before = yield* snapshot
      const denials: ReadonlyArray<Record<string, string>> = [
        {},
        { authorization: "Bearer wrong" },
        { authorization: `Bearer ${TOKEN.toUpperCase()}` },
        { "x-api-key": TOKEN.slice(1) }
      ]
      for (const o of secured) {
        for (const headers of denials) {
          const body = bodyOf(o.method, o.path)
          const label = `${o.method} ${o.path} with ${JSON.stringify(headers)}`
          const response = yield* request(o.method, fill(o.path), { ...(body === undefined ? {} : { body }), headers })
          assertError(response, { status: 401, code: "UNAUTHORIZED" }, label)
        }
      }
      assert.deepStrictEqual(yield* snapshot, before)

      // with the token, the same requests do change things (so the 401s above are what kept them out)
      const resolved = yield* request("PATCH", `/v1/tasks/${taskUuid}/workflow_steps/${stepUuid}`, {
        body: bodyOf("PATCH", "workflow_steps"),
        headers: authorized
      })
      assert.strictEqual(resolved.status, 200, resolved.text)
      assert.notDeepEqual(yield* snapshot, before)
    }))

  it.effect("the bearer token and X-API-Key both authenticate", () =>
    Effect.gen(function*() {
      const before = yield* countTasks
      const bearer = yield* request("POST", "/v1/tasks", {
        body: { ...SUCCESS, context: { auth: "bearer" } },
        headers: { authorization: `Bearer ${TOKEN}` }
      })
      assert.strictEqual(bearer.status, 201, bearer.text)
      const apiKey = yield* request("POST", "/v1/tasks", {
        body: { ...SUCCESS, context: { auth: "api key" } },
        headers: { "X-API-Key": TOKEN }
      })
      assert.strictEqual(apiKey.status, 201, apiKey.text)
      assert.strictEqual(yield* countTasks, before + 2)
      // with the token, bad input gets its usual answer
      assertError(
        yield* request("POST", "/v1/tasks", { body: "{not json", headers: { authorization: `Bearer ${TOKEN}` } }),
        { status: 400, code: "INVALID_JSON", field: "body" }
      )

      // the clients configured with the token (bearer, and X-API-Key)
      const client = yield* TaskerClient
      const created = yield* client.createTask({ ...SUCCESS, context: { auth: "client" } })
      const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(done.status, "complete")
      const url = yield* baseUrl
      const viaKey = yield* Effect.gen(function*() {
        return yield* (yield* TaskerClient).getTask(created.task_uuid)
      }).pipe(
        Effect.provide(TaskerClient.layerFetch({ baseUrl: url, token: Redacted.make(TOKEN), tokenHeader: "api-key" }))
      )
      assert.strictEqual(viaKey.status, "complete")
    }))

  it.effect("health probes and documentation stay open; /ready and /metrics need a key", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* request("GET", "/health")).json.status, "healthy")
      assert.strictEqual((yield* request("GET", "/live")).json.status, "alive")
      // /ready names the process and /metrics the namespaces and templates: not for anonymous callers
      assertError(yield* request("GET", "/ready"), { status: 401, code: "UNAUTHORIZED" })
      assertError(yield* request("GET", "/metrics"), { status: 401, code: "UNAUTHORIZED" })
      const authorized = { authorization: `Bearer ${TOKEN}` }
      assert.strictEqual((yield* request("GET", "/ready", { headers: authorized })).json.status, "ready")
      assert.strictEqual((yield* request("GET", "/metrics", { headers: authorized })).status, 200)
      const doc = yield* request("GET", "/openapi.json")
      assert.strictEqual(doc.status, 200)
      assert.deepStrictEqual(doc.json.paths["/health"].get.security ?? [], [])
      assert.deepStrictEqual(doc.json.paths["/live"].get.security ?? [], [])
      assert.isNotEmpty(doc.json.paths["/ready"].get.security)
      assert.isNotEmpty(doc.json.paths["/v1/tasks"].post.security)
      assert.strictEqual((yield* request("GET", "/docs")).status, 200)
    }))

  it.effect("ui_config says authentication is required (with the token; without it, a 401)", () =>
    Effect.gen(function*() {
      assertError(yield* request("GET", "/v1/ui_config"), { status: 401, code: "UNAUTHORIZED" })
      const config = yield* request("GET", "/v1/ui_config", { headers: { authorization: `Bearer ${TOKEN}` } })
      assert.strictEqual(config.json.auth_required, true)
    }))
})

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("authentication by API keys alone", (it) => {
  it.effect("without TASKER_API_TOKEN, the first API key turns authentication on, and ui_config says so", () =>
    Effect.gen(function*() {
      const before = yield* request("GET", "/v1/ui_config")
      assert.strictEqual(before.status, 200)
      assert.strictEqual(before.json.auth_required, false)
      const created = yield* Effect.flatMap(Effect.service(ApiKeys), (keys) => keys.create({ name: "ui", scopes: ["tasks:read"] }))
        .pipe(Effect.provide(ApiKeys.layer))
      const key = { authorization: `Bearer ${Redacted.value(created.key)}` }
      // the server looks for keys at most once a second while authentication is off
      yield* Effect.sleep("1100 millis")
      assertError(yield* request("GET", "/v1/ui_config"), { status: 401, code: "UNAUTHORIZED" })
      const after = yield* request("GET", "/v1/ui_config", { headers: key })
      assert.strictEqual(after.status, 200)
      assert.strictEqual(after.json.auth_required, true)
    }))
})

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("REST API readiness", (it) => {
  it.effect("/ready is a 503 with its checks when this process's engine is stopped", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* request("GET", "/ready")).status, 200)
      const sql = yield* SqlClient.SqlClient
      const processor = yield* CurrentProcessor
      yield* sql`UPDATE tasker_processors SET stopped_at = now() WHERE processor_uuid = ${processor.processorUuid}`
      const ready = yield* request("GET", "/ready")
      assert.strictEqual(ready.status, 503)
      assert.strictEqual(ready.json.error.code, "SERVICE_UNAVAILABLE")
      assert.strictEqual(ready.json.checks.database.status, "ok")
      assert.strictEqual(ready.json.checks.engine.status, "failed")
      assert.include(ready.json.checks.engine.message, "stopped")
      const typed = yield* Effect.flip(Effect.gen(function*() {
        return yield* (yield* TaskerClient).ready
      }))
      assert.strictEqual(typed._tag, "ApiServiceUnavailable")
      // liveness does not depend on readiness
      assert.strictEqual((yield* request("GET", "/live")).status, 200)
      yield* sql`UPDATE tasker_processors SET stopped_at = NULL WHERE processor_uuid = ${processor.processorUuid}`
      assert.strictEqual((yield* request("GET", "/ready")).status, 200)
    }))
})
