/**
 * Requests naming templates that do not exist (anyone may send them, authenticated or not) must not create a metric
 * series each: `tasker.tasks.requests.total` is labelled with a template's namespace and name only once the
 * template is found, and with `unknown` otherwise.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { apiTestLayer, request } from "./Support.ts"

layer(apiTestLayer(), { timeout: 60_000 })("task request metrics", (it) => {
  it.effect("requests for made-up templates are counted under unknown, never under the names they send", () =>
    Effect.gen(function*() {
      const made = Array.from({ length: 20 }, (_, i) => `made_up_${i}`)
      for (const namespace of made) {
        const answer = yield* request("POST", "/v1/tasks", { body: { namespace, name: `n_${namespace}`, version: "1.0.0", context: {} } })
        assert.strictEqual(answer.status, 404)
      }
      const metrics = (yield* request("GET", "/metrics")).text
      const requests = metrics.split("\n").filter((line) => line.startsWith("tasker_tasks_requests_total{"))
      assert.isTrue(requests.some((line) => line.includes(`namespace="unknown"`) && line.includes(`task_type="unknown"`)))
      for (const namespace of made) assert.notInclude(metrics, namespace)
    }))
})
