import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TaskerClient } from "../../src/client/Client.ts"
import { apiTestLayer, baseUrl } from "../api/Support.ts"

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("Prometheus /metrics", (it) => {
  it.effect("the API server serves every engine metric in Prometheus text format, the per-task counters with the task's correlation_id", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const created = yield* client.createTask({
        namespace: "rust_e2e_linear",
        name: "mathematical_sequence",
        version: "1.0.0",
        context: { even_number: 8 }
      })
      const done = yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(done.status, "complete")
      const url = yield* baseUrl
      const text = yield* Effect.promise(() => fetch(`${url}/metrics`).then((r) => r.text()))
      const lines = (name: string) =>
        text.split("\n").filter((l) => l.startsWith(`${name}{`) && l.includes(`correlation_id="${created.correlation_id}"`))
      const line = (name: string) => lines(name)[0]
      // the sum over the task's series (e.g. one per step name)
      const value = (name: string) => lines(name).reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0)
      assert.strictEqual(value("tasker_tasks_requests_total"), 1)
      assert.strictEqual(value("tasker_tasks_completions_total"), 1)
      assert.strictEqual(value("tasker_steps_enqueued_total"), 4)
      assert.strictEqual(value("tasker_steps_executions_total"), 4)
      assert.strictEqual(value("tasker_steps_successes_total"), 4)
      assert.strictEqual(value("tasker_steps_results_processed_total"), 4)
      // histograms carry no correlation label (the task's IDs are in their exemplars: Exemplars.test.ts)
      assert.isUndefined(line("tasker_step_execution_duration_bucket"))
      assert.isTrue(text.split("\n").some((l) => l.startsWith("tasker_step_execution_duration_bucket{")))
      assert.match(text, /# TYPE tasker_sql_queries_total counter/)
    }))
})

layer(apiTestLayer({ token: "metrics-test-token" }), { excludeTestServices: true, timeout: "60 seconds" })(
  "Prometheus /metrics with authentication on",
  (it) => {
    it.effect("needs a key with the metrics scope (here the bootstrap token), like /v1 routes", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        // metric series name namespaces, templates and steps: not for anonymous callers (docs/security.md)
        const anonymous = yield* Effect.promise(() => fetch(`${url}/metrics`))
        assert.strictEqual(anonymous.status, 401)
        const metrics = yield* Effect.promise(() =>
          fetch(`${url}/metrics`, { headers: { authorization: "Bearer metrics-test-token" } })
        )
        assert.strictEqual(metrics.status, 200)
        assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/)
        const tasks = yield* Effect.promise(() => fetch(`${url}/v1/tasks`))
        assert.strictEqual(tasks.status, 401)
      }))
  }
)
