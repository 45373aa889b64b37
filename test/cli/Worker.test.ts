/**
 * `tasker worker` and `tasker orchestrator` on PostgreSQL (a fresh database): the worker's health server answers
 * /health, /ready and /metrics (Prometheus text), and all shut down on SIGTERM with exit code 0. Three processes
 * share the database: `tasker serve --roles api` takes the task, the worker runs its steps, the orchestrator is
 * the one orchestrator of the deployment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { databases, logLines, run, type Running, start } from "./Support.ts"

const db = databases()
let url = ""
const processes: Array<Running> = []

beforeAll(async () => {
  url = await db.create()
  // migrate first, so the processes do not race to create the schema
  const migrated = await run(["migrate"], { env: { DATABASE_URL: url } })
  expect(migrated.code, migrated.stderr).toBe(0)
}, 60_000)

afterAll(async () => {
  await Promise.all(processes.filter((p) => p.child.exitCode === null).map((p) => p.stop("SIGKILL")))
  await db.release()
}, 60_000)

const launch = (args: ReadonlyArray<string>) => {
  const p = start(args, { env: { DATABASE_URL: url }, timeout: 120_000 })
  processes.push(p)
  return p
}

describe("tasker worker and tasker orchestrator", () => {
  it("run a task created through an API-only server, serve health and metrics, and stop on SIGTERM", async () => {
    const worker = launch(["worker", "--namespace", "rust_e2e_linear", "--health-port", "0"])
    const orchestrator = launch(["orchestrator", "--health-port", "0"])
    const api = launch(["serve", "--roles", "api", "--port", "0"])
    const [health, apiUrl] = await Promise.all([
      worker.waitForStdout(/tasker worker health: (http:\/\/127\.0\.0\.1:\d+)\/health/, 60_000).then((m) => m[1]!),
      api.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 60_000).then((m) => m[1]!)
    ])

    expect(logLines(worker.stderr())[0]?.message).toMatch(/^Using PostgreSQL \(DATABASE_URL\)/)
    const healthy = await fetch(`${health}/health`)
    expect(healthy.status).toBe(200)
    expect(await healthy.json()).toMatchObject({ status: "healthy", namespaces: ["rust_e2e_linear"] })
    expect((await fetch(`${health}/ready`)).status).toBe(200)

    const created = await run([
      "task",
      "create",
      "--url",
      apiUrl,
      "--namespace",
      "rust_e2e_linear",
      "--name",
      "mathematical_sequence",
      "--version",
      "1.0.0",
      "--context",
      `{"even_number": 2}`,
      "--wait",
      "--timeout",
      "60"
    ])
    expect(created.code, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({ status: "complete" })

    const metrics = await fetch(`${health}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get("content-type")).toContain("text/plain")
    const text = await metrics.text()
    expect(text).toMatch(/^# TYPE \w+ (counter|gauge|histogram|summary)$/m)
    expect(text).toContain("rust_e2e_linear")

    const [w, o, a] = await Promise.all([worker.stop(), orchestrator.stop(), api.stop()])
    for (const finished of [w, o, a]) {
      expect(finished.signal).toBeNull()
      expect(finished.code, finished.stderr).toBe(0)
    }
  }, 120_000)
})
