/**
 * The work one request can make the server do is bounded: a list leaves contexts out unless asked for and then
 * carries them only up to the page's context budget; a context larger than the limit is refused (413 naming the
 * field) before anything is written; responses are compressed for clients that accept it (the 3 MB docs page
 * above all).
 */
import { gunzipSync } from "node:zlib"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { countTasks } from "./Support.ts"
import { apiTestLayer, assertError, baseUrl, request } from "./Support.ts"

const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const

/** A context of about `bytes` bytes as JSON. */
const contextOf = (label: string, bytes: number) => ({ case: label, pad: "x".repeat(bytes) })

const LIMITS = { maxContextBytes: 20_000, listContextBudgetBytes: 25_000 }

layer(apiTestLayer(LIMITS), { timeout: 120_000 })("bounded requests", (it) => {
  it.effect("a list leaves contexts out unless include=context, then carries them up to the page's budget", () =>
    Effect.gen(function*() {
      // newest first: c (10 KB), b (10 KB), a (10 KB) — the budget (25 000 bytes) holds c and b, not a
      const correlation = crypto.randomUUID()
      for (const label of ["a", "b", "c"]) {
        const created = yield* request("POST", "/v1/tasks", {
          body: { ...SUCCESS, context: contextOf(label, 10_000), parent_correlation_id: correlation }
        })
        assert.strictEqual(created.status, 201, created.text)
      }
      const plain = yield* request("GET", `/v1/tasks?parent_correlation_id=${correlation}`)
      assert.strictEqual(plain.status, 200, plain.text)
      assert.strictEqual(plain.json.tasks.length, 3)
      for (const task of plain.json.tasks) {
        assert.notProperty(task, "context")
        assert.notProperty(task, "context_omitted")
      }
      assert.isBelow(plain.text.length, 5_000)

      const full = yield* request("GET", `/v1/tasks?parent_correlation_id=${correlation}&include=context`)
      assert.strictEqual(full.status, 200, full.text.slice(0, 300))
      const [c, b, a] = full.json.tasks
      assert.strictEqual(c.context.case, "c")
      assert.strictEqual(b.context.case, "b")
      assert.strictEqual(b.context.pad.length, 10_000)
      assert.notProperty(a, "context")
      assert.strictEqual(a.context_omitted, true)
      assert.isBelow(full.text.length, LIMITS.listContextBudgetBytes + 5_000)

      // the omitted context is whole in the task itself
      const one = yield* request("GET", `/v1/tasks/${a.task_uuid}`)
      assert.strictEqual(one.json.context.pad.length, 10_000)

      assertError(yield* request("GET", "/v1/tasks?include=steps"), { status: 400, code: "BAD_REQUEST", field: "include" })
    }))

  it.effect("a context over the limit is a 413 naming it, and nothing is written", () =>
    Effect.gen(function*() {
      const before = yield* countTasks
      assertError(
        yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, context: contextOf("big", 30_000) } }),
        { status: 413, code: "PAYLOAD_TOO_LARGE", field: "context" }
      )
      assertError(
        yield* request("POST", "/v1/tasks/batch", {
          body: {
            tasks: [
              { ...SUCCESS, context: contextOf("fine", 100) },
              { ...SUCCESS, context: contextOf("big", 30_000) }
            ]
          }
        }),
        { status: 413, code: "PAYLOAD_TOO_LARGE", field: "tasks.1.context" }
      )
      assert.strictEqual(yield* countTasks, before)
      // just under the limit is accepted
      const fits = yield* request("POST", "/v1/tasks", { body: { ...SUCCESS, context: contextOf("fits", 19_000) } })
      assert.strictEqual(fits.status, 201, fits.text.slice(0, 300))
    }))

  it.effect("responses are gzip-compressed for clients that accept it", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const fetchRaw = (path: string, encoding: string | undefined) =>
        Effect.promise(async () => {
          // node's fetch always decompresses, so read the docs page with node:http to see the bytes sent
          const { request: httpRequest } = await import("node:http")
          return await new Promise<{ encoding: string | undefined; body: Buffer; vary: string | undefined }>(
            (resolve, reject) => {
              const req = httpRequest(url + path, {
                headers: encoding === undefined ? {} : { "accept-encoding": encoding }
              }, (res) => {
                const chunks: Array<Buffer> = []
                res.on("data", (c: Buffer) => chunks.push(c))
                res.on("end", () =>
                  resolve({
                    encoding: res.headers["content-encoding"],
                    vary: res.headers["vary"],
                    body: Buffer.concat(chunks)
                  }))
                res.on("error", reject)
              })
              req.on("error", reject)
              req.end()
            }
          )
        })
      const plainDocs = yield* fetchRaw("/docs", undefined)
      const gzDocs = yield* fetchRaw("/docs", "gzip, deflate")
      assert.isUndefined(plainDocs.encoding)
      assert.strictEqual(gzDocs.encoding, "gzip")
      assert.include(gzDocs.vary ?? "", "Accept-Encoding")
      assert.isBelow(gzDocs.body.length, plainDocs.body.length / 2)
      assert.deepStrictEqual(gunzipSync(gzDocs.body), plainDocs.body)

      const gzList = yield* fetchRaw("/v1/tasks?per_page=100&include=context", "gzip")
      assert.strictEqual(gzList.encoding, "gzip")
      assert.isArray(JSON.parse(gunzipSync(gzList.body).toString("utf8")).tasks)
      // small answers are sent as they are
      const health = yield* fetchRaw("/health", "gzip")
      assert.isUndefined(health.encoding)
    }))
})
