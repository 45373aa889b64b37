/**
 * `tasker orchestrator`'s health server on PostgreSQL (a fresh database): /health, /ready and /metrics answer, and
 * what only the orchestrator records reaches its /metrics. The worker hands its results to the orchestrator
 * (`TASKER_INLINE_RESULT_PROCESSING=false`), so the orchestrator's results loop completes the tasks: the
 * completions are on the orchestrator's /metrics, not on the worker's, and the sampled gauges are there too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliOnMigratedDatabase, postLinearTask } from "./Support.ts"

const cluster = cliOnMigratedDatabase()

beforeAll(cluster.setup, 60_000)
afterAll(cluster.teardown, 60_000)

const HEALTH = /tasker (?:worker|orchestrator) health: (http:\/\/127\.0\.0\.1:\d+)\/health/

/** The sum of the samples of `name` in Prometheus text (every label set), 0 when there is none. */
const total = (text: string, name: string, labels: RegExp = /.*/): number =>
  text.split("\n")
    .map((line) => new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line))
    .filter((m): m is RegExpExecArray => m !== null && labels.test(m[1] ?? ""))
    .reduce((sum, m) => sum + Number(m[2]), 0)

const metricsOf = async (url: string) => {
  const response = await fetch(`${url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toContain("text/plain")
  return response.text()
}

describe("tasker orchestrator", () => {
  it("serves /health, /ready and /metrics with the completions its results loop recorded", async () => {
    // one series per label set, not per task, so the value is the count of tasks
    const env = { TASKER_METRICS_CORRELATION: "false", TASKER_INLINE_RESULT_PROCESSING: "false" }
    const orchestrator = cluster.launch(["orchestrator", "--health-port", "0"], env)
    const worker = cluster.launch(["worker", "--namespace", "rust_e2e_linear", "--health-port", "0"], env)
    const api = cluster.launch(["serve", "--roles", "api", "--port", "0"], env)
    const [orchestratorUrl, workerUrl, apiUrl] = await Promise.all([
      orchestrator.waitForStdout(HEALTH, 60_000).then((m) => m[1]!),
      worker.waitForStdout(HEALTH, 60_000).then((m) => m[1]!),
      api.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 60_000).then((m) => m[1]!)
    ])

    const healthy = await fetch(`${orchestratorUrl}/health`)
    expect(healthy.status).toBe(200)
    expect(await healthy.json()).toMatchObject({ status: "healthy", role: "orchestrator" })
    const ready = await fetch(`${orchestratorUrl}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready", role: "orchestrator" })

    const created = await Promise.all([2, 4].map(async (n) => {
      const response = await postLinearTask(apiUrl, n)
      expect(response.status).toBe(201)
      return ((await response.json()) as { task_uuid: string }).task_uuid
    }))
    for (const uuid of created) {
      const waited = await fetch(`${apiUrl}/v1/tasks/${uuid}/wait?timeout_ms=60000`)
      expect(await waited.json()).toMatchObject({ finished: true, task: { status: "complete" } })
    }

    const [fromOrchestrator, fromWorker] = await Promise.all([metricsOf(orchestratorUrl), metricsOf(workerUrl)])
    // the results loop completed both tasks and applied all 8 results
    expect(total(fromOrchestrator, "tasker_tasks_completions_total", /namespace="rust_e2e_linear"/)).toBe(2)
    expect(total(fromOrchestrator, "tasker_steps_results_processed_total", /result_type="success"/)).toBe(8)
    // the sampled gauges are set by the orchestrator only
    expect(fromOrchestrator).toMatch(/^tasker_tasks_active\{state="steps_in_process"\} \d+$/m)
    expect(fromOrchestrator).toMatch(/^tasker_queue_depth\{queue="orchestration_step_results_queue"\} \d+$/m)
    // the worker ran the steps and handed every result to the results queue, and completed nothing itself
    expect(total(fromWorker, "tasker_steps_results_submitted_total", /result_type="submitted"/)).toBe(8)
    expect(total(fromWorker, "tasker_tasks_completions_total")).toBe(0)
    expect(fromWorker).not.toMatch(/^tasker_tasks_active\{/m)

    const stopped = await Promise.all([orchestrator.stop(), worker.stop(), api.stop()])
    for (const finished of stopped) {
      expect(finished.signal).toBeNull()
      expect(finished.code, finished.stderr).toBe(0)
    }
    // the health server's port is closed with the process
    await expect(fetch(`${orchestratorUrl}/health`)).rejects.toThrow()
  }, 120_000)
})
