/**
 * Helpers for the API tests: the real engine (every example template plus a few test templates) on a fresh
 * database, the API server on a free loopback port, a `TaskerClient` pointed at it, and a raw `fetch` helper
 * for requests the typed client would refuse to send.
 */
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { apiServerLayer } from "../../layers/api.ts"
import type { ApiServerOptions } from "../../src/api/ServerOptions.ts"
import { TaskerClient, type TaskerClientOptions } from "../../src/client/Client.ts"
import type { EngineSettings } from "../../src/config/EngineConfig.ts"
import { exampleTemplates } from "../../src/examples/index.ts"
import { Workflow, type WorkflowDefinition } from "../../src/workflow/Workflow.ts"
import { fragileWorkflow } from "../support/Templates.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

/** first → breaks (fails permanently until its task is in `fixed`, test/support/Templates.ts) → last (breaks × 10). */
export const Fragile = fragileWorkflow("api_test")

/** One step that takes a while (cancel tests). */
export const Slow = Workflow.make({ namespace: "api_test", name: "slow", version: "1.0.0", identityStrategy: "always_unique" })
  .step("nap", { run: () => Effect.sleep("2 seconds").pipe(Effect.as("woke")) })
  .step("after", { dependsOn: ["nap"], run: () => Effect.succeed("after") })

const templates: ReadonlyArray<WorkflowDefinition<never>> = [...exampleTemplates, Fragile, Slow]

/** The base URL of the server in the layer. */
export const baseUrl = Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address))

/**
 * Engine + API server on port 0 + a client (`clientOptions`) for it, on a fresh database. `engine` adds templates
 * to the worker and overrides engine settings.
 */
export const apiTestLayer = (
  options: ApiServerOptions = {},
  clientOptions: Omit<TaskerClientOptions, "baseUrl"> = {},
  engine: {
    readonly templates?: ReadonlyArray<WorkflowDefinition<never>>
    readonly settings?: Partial<EngineSettings>
  } = {}
) => {
  // tests drive the API far faster than a client should: the rate limit is out of the way unless a test sets it
  // (test/api/Scopes.test.ts tests it)
  const server = apiServerLayer({ port: 0, logRequests: false, rateLimit: 1_000_000, rateBurst: 1_000_000, ...options }).pipe(
    Layer.provideMerge(engineLayer({
      templates: [...templates, ...(engine.templates ?? [])],
      settings: { pollIntervalMs: 200, ...engine.settings }
    })),
    Layer.provideMerge(TestDatabaseLayer)
  )
  const client = Layer.unwrap(Effect.map(baseUrl, (url) => TaskerClient.layerFetch({ ...clientOptions, baseUrl: url })))
  return client.pipe(Layer.provideMerge(server))
}

export interface RawResponse {
  readonly status: number
  readonly contentType: string
  readonly text: string
  /** the parsed body (undefined when it is not JSON) */
  readonly json: any
}

/** A raw request: `body` is sent as JSON unless it is a string (sent as is). */
export const request = (
  method: string,
  path: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    return yield* Effect.promise(async (): Promise<RawResponse> => {
      const init: RequestInit = {
        method,
        headers: { ...(options.body === undefined ? {} : { "content-type": "application/json" }), ...options.headers }
      }
      if (options.body !== undefined) {
        init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body)
      }
      const response = await fetch(url + path, init)
      const text = await response.text()
      let json: unknown = undefined
      try {
        json = JSON.parse(text)
      } catch {
        // not JSON
      }
      return { status: response.status, contentType: response.headers.get("content-type") ?? "", text, json }
    })
  })

/** Asserts a response is an error in the API's shape with the given status, code and field. */
export const assertError = (
  response: RawResponse,
  expected: { readonly status: number; readonly code: string; readonly field?: string | undefined },
  label = ""
) => {
  const context = `${label} → ${response.status} ${response.text.slice(0, 500)}`
  assert.strictEqual(response.status, expected.status, context)
  assert.include(response.contentType, "application/json", context)
  assert.isObject(response.json?.error, context)
  assert.deepStrictEqual(Object.keys(response.json), ["error"], context)
  assert.strictEqual(response.json.error.code, expected.code, context)
  assert.isString(response.json.error.message, context)
  assert.isAbove(response.json.error.message.length, 0, context)
  if (expected.field !== undefined) assert.strictEqual(response.json.error.field, expected.field, context)
}

/** The number of tasks in the database. */
export const countTasks = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`
  return row!.n
})
