/**
 * Scoped API keys against a real server and database: for every operation of the OpenAPI document and every scope,
 * a key holding only that scope is allowed (anything but 401/403) exactly when `ROUTE_SCOPES` says so, else a 403
 * naming the missing scope; no key is a 401 and a revoked key too. Then namespace-limited keys, the `priority`
 * bound, the `resolve` rules (`resolved_by` from the key, `force` for admins only), the operator trail (transition
 * metadata and `GET /v1/audit`) and the per-key rate limit (429 with `Retry-After`, probes exempt).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { ROUTE_SCOPES } from "../../src/api/Access.ts"
import { ApiKeys } from "../../src/db/ApiKeys.ts"
import { hasScope, SCOPES, type Scope } from "../../src/domain/Scopes.ts"
import { apiTestLayer, assertError, baseUrl, request } from "./Support.ts"

const TOKEN = "bootstrap-token-for-scope-tests"
const ADMIN = { authorization: `Bearer ${TOKEN}` }
const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const
const FRAGILE = { namespace: "api_test", name: "fragile", version: "1.0.0" } as const
const NO_SUCH_TASK = "0190b9a8-0000-7000-8000-000000000000"

const newKey = (scopes: ReadonlyArray<Scope>, namespaces?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    const created = yield* keys.create({ name: `test ${scopes.join(",")}`, scopes, namespaces })
    return { keyId: created.record.keyId, headers: { authorization: `Bearer ${Redacted.value(created.key)}` } }
  }).pipe(Effect.provide(ApiKeys.layer))

/** A fragile task blocked by its failed `breaks` step (`last` still pending). */
const blockedTask = Effect.gen(function*() {
  const created = yield* request("POST", "/v1/tasks", { body: { ...FRAGILE, context: { scopes: true } }, headers: ADMIN })
  assert.strictEqual(created.status, 201, created.text)
  const taskUuid: string = created.json.task_uuid
  const waited = yield* request("GET", `/v1/tasks/${taskUuid}/wait?timeout_ms=20000`, { headers: ADMIN })
  assert.strictEqual(waited.json.task.status, "blocked_by_failures", waited.text)
  return { taskUuid, breaks: created.json.step_mapping.breaks as string, last: created.json.step_mapping.last as string }
})

layer(apiTestLayer({ token: Redacted.make(TOKEN) }), { excludeTestServices: true, timeout: "120 seconds" })(
  "API key scopes",
  (it) => {
    it.effect("every operation, every scope: allowed exactly when ROUTE_SCOPES says so, else 403 naming the scope", () =>
      Effect.gen(function*() {
        const doc = yield* request("GET", "/openapi.json")
        const operations = Object.entries(
          doc.json.paths as Record<string, Record<string, { operationId: string; security?: ReadonlyArray<unknown> }>>
        ).flatMap(([path, methods]) =>
          Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op }))
        )
        const secured = operations.filter((o) => (o.op.security ?? []).length > 0)
        // the table and the document name the same operations
        assert.sameMembers(secured.map((o) => o.op.operationId), Object.keys(ROUTE_SCOPES))
        const keys = Object.fromEntries(
          yield* Effect.forEach(SCOPES, (scope) => Effect.map(newKey([scope]), (key) => [scope, key] as const))
        ) as unknown as Record<Scope, { keyId: string; headers: Record<string, string> }>
        const fill = (path: string) =>
          path.replace("{task_uuid}", NO_SUCH_TASK).replace("{step_uuid}", NO_SUCH_TASK)
            .replace("{namespace}", "nope").replace("{name}", "nope").replace("{version}", "1.0.0")
            .replace("{queue}", "nope").replace("{msg_id}", "1") +
          // the event stream of a task that does not exist is a 404 instead of a stream that never ends
          (path === "/v1/events" ? `?task_uuid=${NO_SUCH_TASK}` : "")
        const bodyOf = (method: string, path: string) =>
          method === "POST"
            ? path.endsWith("/batch")
              ? { tasks: [{ namespace: "nope", name: "nope", version: "1.0.0" }] }
              : { namespace: "nope", name: "nope", version: "1.0.0" }
            : method === "PATCH"
            ? { action: "retry" }
            : undefined
        let checked = 0
        for (const o of secured) {
          const required = ROUTE_SCOPES[o.op.operationId as keyof typeof ROUTE_SCOPES]
          const body = bodyOf(o.method, o.path)
          const send = (headers: Record<string, string>) =>
            request(o.method, fill(o.path), { ...(body === undefined ? {} : { body }), headers })
          assertError(yield* send({}), { status: 401, code: "UNAUTHORIZED" }, `${o.op.operationId} without a key`)
          for (const scope of SCOPES) {
            const label = `${o.method} ${o.path} (${o.op.operationId}) with ${scope}`
            const response = yield* send(keys[scope].headers)
            if (hasScope([scope], required)) {
              assert.notInclude([401, 403], response.status, `${label} → ${response.status} ${response.text}`)
            } else {
              assertError(response, { status: 403, code: "FORBIDDEN", field: "scope" }, label)
              assert.include(response.json.error.message, required, label)
              assert.include(response.json.error.message, keys[scope].keyId, label)
            }
            checked++
          }
        }
        assert.strictEqual(checked, secured.length * SCOPES.length)
        // /metrics, outside the HttpApi
        for (const scope of SCOPES) {
          const metrics = yield* request("GET", "/metrics", { headers: keys[scope].headers })
          if (hasScope([scope], "metrics")) assert.strictEqual(metrics.status, 200, scope)
          else assertError(metrics, { status: 403, code: "FORBIDDEN", field: "scope" }, `/metrics with ${scope}`)
        }
        assertError(yield* request("GET", "/metrics"), { status: 401, code: "UNAUTHORIZED" })
      }))

    it.effect("a revoked key, a mangled key and an unknown key id are 401s; the secret is not stored", () =>
      Effect.gen(function*() {
        const key = yield* newKey(["tasks:read"])
        assert.strictEqual((yield* request("GET", "/v1/tasks", { headers: key.headers })).status, 200)
        const text = key.headers.authorization.slice("Bearer ".length)
        const mangled = text.slice(0, -1) + (text.endsWith("A") ? "B" : "A")
        assertError(yield* request("GET", "/v1/tasks", { headers: { authorization: `Bearer ${mangled}` } }), {
          status: 401,
          code: "UNAUTHORIZED"
        })
        const otherId = text.replace(/^tk_[0-9a-f]{16}_/, "tk_0123456789abcdef_")
        assertError(yield* request("GET", "/v1/tasks", { headers: { "x-api-key": otherId } }), {
          status: 401,
          code: "UNAUTHORIZED"
        })
        const sql = yield* SqlClient.SqlClient
        const stored = yield* sql<{ dump: string }>`SELECT row_to_json(k)::text AS dump FROM tasker_api_keys k`
        assert.isFalse(stored.some((r) => r.dump.includes(text.split("_").slice(2).join("_"))))
        const revoked = yield* Effect.gen(function*() {
          return yield* (yield* ApiKeys).revoke(key.keyId)
        }).pipe(Effect.provide(ApiKeys.layer))
        assert.strictEqual(revoked?.keyId, key.keyId)
        assertError(yield* request("GET", "/v1/tasks", { headers: key.headers }), { status: 401, code: "UNAUTHORIZED" })
        // X-API-Key works like the bearer header
        const other = yield* newKey(["tasks:read"])
        const viaHeader = yield* request("GET", "/v1/tasks", { headers: { "x-api-key": other.headers.authorization.slice(7) } })
        assert.strictEqual(viaHeader.status, 200)
      }))

    it.effect("a key limited to namespaces: creates and sees only those; others' tasks are 404s", () =>
      Effect.gen(function*() {
        const limited = yield* newKey(["tasks:read", "tasks:write", "tasks:operate"], ["test_errors"])
        const own = yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, context: { ns: 1 } }, headers: limited.headers })
        assert.strictEqual(own.status, 201, own.text)
        assertError(yield* request("POST", "/v1/tasks", { body: { ...FRAGILE, context: {} }, headers: limited.headers }), {
          status: 403,
          code: "FORBIDDEN",
          field: "namespace"
        })
        assertError(
          yield* request("POST", "/v1/tasks/batch", {
            body: { tasks: [{ ...SUCCESS, context: { ns: 2 } }, { ...FRAGILE, context: {} }] },
            headers: limited.headers
          }),
          { status: 403, code: "FORBIDDEN", field: "tasks.1.namespace" }
        )
        const foreign = yield* request("POST", "/v1/tasks", { body: { ...FRAGILE, context: { ns: 3 } }, headers: ADMIN })
        assert.strictEqual(foreign.status, 201)
        const foreignUuid: string = foreign.json.task_uuid
        const listed = yield* request("GET", "/v1/tasks?per_page=100", { headers: limited.headers })
        assert.strictEqual(listed.status, 200)
        assert.isAbove(listed.json.tasks.length, 0)
        assert.isTrue(listed.json.tasks.every((t: { namespace: string }) => t.namespace === "test_errors"))
        const all = yield* request("GET", "/v1/tasks?per_page=100", { headers: ADMIN })
        assert.isTrue(all.json.tasks.some((t: { task_uuid: string }) => t.task_uuid === foreignUuid))
        assertError(yield* request("GET", "/v1/tasks?namespace=api_test", { headers: limited.headers }), {
          status: 403,
          code: "FORBIDDEN",
          field: "namespace"
        })
        for (
          const [method, path] of [
            ["GET", `/v1/tasks/${foreignUuid}`],
            ["GET", `/v1/tasks/${foreignUuid}/workflow_steps`],
            ["GET", `/v1/tasks/${foreignUuid}/wait?timeout_ms=10`],
            ["DELETE", `/v1/tasks/${foreignUuid}`]
          ] as const
        ) {
          assertError(yield* request(method, path, { headers: limited.headers }), {
            status: 404,
            code: "NOT_FOUND",
            field: "task_uuid"
          }, `${method} ${path}`)
        }
        const still = yield* request("GET", `/v1/tasks/${foreignUuid}`, { headers: ADMIN })
        assert.notStrictEqual(still.json.status, "cancelled")
      }))

    it.effect("priority: 0..100 without admin (403 naming priority), anything with admin", () =>
      Effect.gen(function*() {
        const writer = yield* newKey(["tasks:write"])
        for (const priority of [101, -1, 2 ** 31 - 1]) {
          assertError(
            yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, priority, context: { p: priority } }, headers: writer.headers }),
            { status: 403, code: "FORBIDDEN", field: "priority" },
            String(priority)
          )
        }
        const ok = yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, priority: 100, context: { p: 100 } }, headers: writer.headers })
        assert.strictEqual(ok.status, 201, ok.text)
        const admin = yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, priority: 5000, context: { p: 5000 } }, headers: ADMIN })
        assert.strictEqual(admin.status, 201, admin.text)
      }))

    it.effect("resolve: only a failed step unless forced by an admin; resolved_by is the key; all of it audited", () =>
      Effect.gen(function*() {
        const operator = yield* newKey(["tasks:operate", "tasks:read"])
        const { breaks, last, taskUuid } = yield* blockedTask
        const resolve = (step: string, headers: Record<string, string>, extra: object = {}) =>
          request("PATCH", `/v1/tasks/${taskUuid}/workflow_steps/${step}`, {
            body: { action: "resolve", result_data: 2, resolved_by: "somebody else", reason: "fixed by hand", ...extra },
            headers: { ...headers, "x-correlation-id": "0190b9a8-1111-7000-8000-000000000001" }
          })
        // `last` never ran (pending): nothing to resolve without force
        const pending = yield* resolve(last, operator.headers)
        assertError(pending, { status: 409, code: "CONFLICT", field: "action" })
        assert.include(pending.json.error.message, "pending")
        assertError(yield* resolve(last, operator.headers, { force: true }), { status: 403, code: "FORBIDDEN", field: "force" })

        // the failed step: resolved, by the key whatever the body says
        const resolved = yield* resolve(breaks, operator.headers)
        assert.strictEqual(resolved.status, 200, resolved.text)
        assert.strictEqual(resolved.json.current_state, "resolved_manually")
        const sql = yield* SqlClient.SqlClient
        const [transition] = yield* sql<{ metadata: any }>`
          SELECT metadata FROM tasker_workflow_step_transitions WHERE workflow_step_uuid = ${breaks}
          ORDER BY sort_key DESC LIMIT 1`
        assert.strictEqual(transition!.metadata.resolvedBy, operator.keyId)
        assert.strictEqual(transition!.metadata.operator.key_id, operator.keyId)
        assert.strictEqual(transition!.metadata.operator.correlation_id, "0190b9a8-1111-7000-8000-000000000001")
        assert.isString(transition!.metadata.operator.client_address)
        const [step] = yield* sql<{ results: any }>`SELECT results FROM tasker_workflow_steps WHERE workflow_step_uuid = ${breaks}`
        assert.strictEqual(step!.results.metadata.resolved_by, operator.keyId)

        // a second blocked task: an admin forces the pending step
        const second = yield* blockedTask
        const forced = yield* request("PATCH", `/v1/tasks/${second.taskUuid}/workflow_steps/${second.last}`, {
          body: { action: "resolve", result_data: 20, reason: "skip it", force: true },
          headers: ADMIN
        })
        assert.strictEqual(forced.status, 200, forced.text)
        const cancelled = yield* request("DELETE", `/v1/tasks/${second.taskUuid}`, { headers: operator.headers })
        assert.strictEqual(cancelled.status, 200, cancelled.text)
        const [cancel] = yield* sql<{ metadata: any }>`
          SELECT metadata FROM tasker_task_transitions WHERE task_uuid = ${second.taskUuid}
          ORDER BY sort_key DESC LIMIT 1`
        assert.strictEqual(cancel!.metadata.operator.key_id, operator.keyId)

        // the audit trail: admin only, filtered
        assertError(yield* request("GET", "/v1/audit", { headers: operator.headers }), {
          status: 403,
          code: "FORBIDDEN",
          field: "scope"
        })
        const first = yield* request("GET", `/v1/audit?task_uuid=${taskUuid}`, { headers: ADMIN })
        assert.strictEqual(first.status, 200, first.text)
        assert.deepStrictEqual(first.json.entries.map((e: any) => [e.action, e.key_id, e.step_uuid]), [
          ["step.resolve", operator.keyId, breaks]
        ])
        assert.strictEqual(first.json.entries[0].correlation_id, "0190b9a8-1111-7000-8000-000000000001")
        const byOperator = yield* request("GET", `/v1/audit?key_id=${operator.keyId}`, { headers: ADMIN })
        assert.deepStrictEqual(byOperator.json.entries.map((e: any) => e.action), ["task.cancel", "step.resolve"])
        const forcedEntries = yield* request("GET", `/v1/audit?key_id=bootstrap&action=step.resolve`, { headers: ADMIN })
        assert.strictEqual(forcedEntries.json.entries[0].details.forced, true)
        const later = yield* request("GET", `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, {
          headers: ADMIN
        })
        assert.strictEqual(later.json.pagination.total_count, 0)
        const paged = yield* request("GET", `/v1/audit?per_page=1&page=2`, { headers: ADMIN })
        assert.strictEqual(paged.json.entries.length, 1)
        assert.isAtLeast(paged.json.pagination.total_count, 3)
        assertError(yield* request("GET", `/v1/audit?action=drop_tables`, { headers: ADMIN }), {
          status: 400,
          code: "BAD_REQUEST",
          field: "action"
        })
      }))
  }
)

layer(apiTestLayer({ token: Redacted.make(TOKEN), rateLimit: 1, rateBurst: 3 }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("API rate limit", (it) => {
  it.effect("past the burst a key gets 429 with Retry-After; other keys and the probes are not affected", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const key = yield* newKey(["tasks:read"])
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push((yield* request("GET", "/v1/templates", { headers: key.headers })).status)
      assert.deepStrictEqual(statuses, [200, 200, 200, 429])
      const limited = yield* Effect.promise(() => fetch(`${url}/v1/tasks`, { headers: key.headers }))
      assert.strictEqual(limited.status, 429)
      assert.isAtLeast(Number(limited.headers.get("retry-after")), 1)
      const body = yield* Effect.promise(() => limited.json() as Promise<any>)
      assert.strictEqual(body.error.code, "TOO_MANY_REQUESTS")
      assert.include(body.error.message, key.keyId)
      // another key has its own bucket; the health probes are exempt
      assert.strictEqual((yield* request("GET", "/v1/templates", { headers: ADMIN })).status, 200)
      for (let i = 0; i < 10; i++) assert.strictEqual((yield* request("GET", "/health")).status, 200)
      // the bucket refills at the rate
      yield* Effect.sleep("1100 millis")
      assert.strictEqual((yield* request("GET", "/v1/templates", { headers: key.headers })).status, 200)
    }))
})
