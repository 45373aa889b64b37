/**
 * `tasker serve` on the embedded database and a free port, driven from outside: the first log line names the
 * database, the banner prints the URL and a curl command that works, the health probes answer, the `tasker task`
 * commands create (and wait for), read, list and cancel tasks against it, API errors exit 2, and SIGTERM shuts it
 * down with exit code 0.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { logLines, run, type Running, start } from "./Support.ts"

let server: Running
let url = ""

beforeAll(async () => {
  server = start(["serve", "--port", "0"], { timeout: 180_000 })
  url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
  // the rest of the banner (the curl command, then how to read the task) may arrive in a later chunk
  await server.waitForStdout(/Then read it:/, 30_000)
}, 150_000)

afterAll(async () => {
  if (server.child.exitCode === null) await server.stop("SIGKILL")
})

const task = (...args: ReadonlyArray<string>) => run(["task", ...args, "--url", url])

describe("tasker serve", () => {
  it("logs the database first and prints the API URL and a working curl command", async () => {
    // plain `tasker serve` submits no example tasks (`npm start` adds --examples: ServeExamples.test.ts)
    expect(server.stdout()).not.toContain("Example tasks")
    expect(logLines(server.stderr())[0]?.message).toBe(
      "Using the embedded database (in memory); set DATABASE_URL to use PostgreSQL"
    )
    const curl = server.stdout().split("\n").find((l) => l.includes("curl") && l.includes("-X POST"))
    expect(curl).toBeDefined()
    expect(curl).toContain(`${url}/v1/tasks`)
    const body = /-d '(.*)'$/.exec(curl!.trim())?.[1]
    expect(JSON.parse(body!)).toEqual({
      namespace: "rust_e2e_linear",
      name: "mathematical_sequence",
      version: "1.0.0",
      context: { even_number: 6 }
    })
    // what the curl command sends
    const response = await fetch(`${url}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body!
    })
    expect([200, 201]).toContain(response.status)
    expect(await response.json()).toMatchObject({ step_count: 4 })
  })

  it("prints the dashboard URL, which serves the dashboard's page without a token", async () => {
    const line = server.stdout().split("\n").find((l) => l.startsWith("Dashboard: "))
    expect(line?.trim()).toBe(`Dashboard: ${url}/ui/`)
    const page = await fetch(`${url}/ui/`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(await page.text()).toContain('<div id="root">')
  })

  it("answers /health and /ready", async () => {
    const health = await fetch(`${url}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: "healthy" })
    const ready = await fetch(`${url}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready" })
  })

  it("task create --wait completes a task; get and list find it", async () => {
    const created = await task(
      "create",
      "--namespace",
      "rust_e2e_linear",
      "--name",
      "mathematical_sequence",
      "--version",
      "1.0.0",
      "--context",
      `{"even_number": 4}`,
      "--tag",
      "cli-test",
      "--wait"
    )
    expect(created.code, created.stderr).toBe(0)
    const detail = JSON.parse(created.stdout) as {
      task_uuid: string
      status: string
      tags: ReadonlyArray<string>
      steps: ReadonlyArray<{ name: string; results: { result: unknown } }>
    }
    expect(detail.status).toBe("complete")
    expect(detail.tags).toEqual(["cli-test"])
    expect(detail.steps.find((s) => s.name === "linear_step_4")?.results.result).toBe((4n ** 16n).toString())

    const [got, listed, cancelled] = await Promise.all([
      task("get", detail.task_uuid),
      task("list", "--namespace", "rust_e2e_linear", "--status", "complete", "--per-page", "100"),
      // a finished task cannot be cancelled: the API's 409, exit 2
      task("cancel", detail.task_uuid)
    ])
    expect(got.code, got.stderr).toBe(0)
    expect(JSON.parse(got.stdout)).toMatchObject({ task_uuid: detail.task_uuid, status: "complete" })

    expect(listed.code, listed.stderr).toBe(0)
    const page = JSON.parse(listed.stdout) as { tasks: ReadonlyArray<{ task_uuid: string }>; pagination: object }
    expect(page.tasks.map((t) => t.task_uuid)).toContain(detail.task_uuid)
    expect(page.pagination).toMatchObject({ page: 1, per_page: 100 })

    expect(cancelled.code).toBe(2)
    expect(cancelled.stderr).toMatch(/^tasker: the API answered 409 CONFLICT/m)
  }, 60_000)

  it("serves on the API's /metrics what every role of the process recorded", async () => {
    await task("create", "--namespace", "rust_e2e_linear", "--name", "mathematical_sequence", "--version", "1.0.0",
      "--context", `{"even_number": 8}`, "--wait")
    const response = await fetch(`${url}/metrics`)
    expect(response.status).toBe(200)
    const text = await response.text()
    const positive = (name: string) => new RegExp(`^${name}\\{[^}]*\\} [1-9]`, "m")
    expect(text).toMatch(positive("tasker_tasks_requests_total")) // the API created the task
    expect(text).toMatch(positive("tasker_steps_executions_total")) // the worker ran its steps
    expect(text).toMatch(positive("tasker_tasks_completions_total")) // a result completed it
    expect(text).toMatch(/^tasker_tasks_active\{state="pending"\} \d+$/m) // the orchestrator's sampled gauges
  }, 60_000)

  it("create --wait exits 1 for a task that ends blocked, cancel cancels it, create without --wait prints the task", async () => {
    const created = await task(
      "create",
      "--namespace",
      "test_errors",
      "--name",
      "permanent_error_only",
      "--version",
      "1.0.0",
      "--wait"
    )
    // the task ends blocked by its failed step: printed, exit 1
    expect(created.code).toBe(1)
    expect(created.stderr).toMatch(/^tasker: task .* ended blocked_by_failures$/m)
    const blocked = JSON.parse(created.stdout) as { task_uuid: string; status: string }
    expect(blocked.status).toBe("blocked_by_failures")

    const [cancelled, fresh] = await Promise.all([
      task("cancel", blocked.task_uuid),
      task(
        "create",
        "--namespace",
        "rust_e2e_linear",
        "--name",
        "mathematical_sequence",
        "--version",
        "1.0.0",
        "--context",
        `{"even_number": 8}`,
        "--idempotency-key",
        crypto.randomUUID()
      )
    ])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ task_uuid: blocked.task_uuid, status: "cancelled" })
    expect(fresh.code, fresh.stderr).toBe(0)
    expect(JSON.parse(fresh.stdout)).toMatchObject({ created: true, step_count: 4 })
  }, 60_000)

  it("API errors exit 2 with the field named", async () => {
    const [unknownTemplate, badContext, missing] = await Promise.all([
      task("create", "--namespace", "nope", "--name", "x", "--version", "1.0.0"),
      task(
        "create",
        "--namespace",
        "rust_e2e_linear",
        "--name",
        "mathematical_sequence",
        "--version",
        "1.0.0",
        "--context",
        `{"even_number": "six"}`
      ),
      task("get", "01a21c4a-960d-79aa-9cea-a219129a5f00")
    ])
    expect(unknownTemplate.code).toBe(2)
    expect(unknownTemplate.stderr).toMatch(/^tasker: the API answered 404 NOT_FOUND \(field namespace\)/m)
    expect(badContext.code).toBe(2)
    expect(badContext.stderr).toMatch(/^tasker: the API answered 422 VALIDATION_ERROR \(field context\.even_number\)/m)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^tasker: the API answered 404 NOT_FOUND \(field task_uuid\)/m)
  }, 60_000)

  it("shuts down on SIGTERM with exit code 0", async () => {
    const finished = await server.stop("SIGTERM")
    expect(finished.signal).toBeNull()
    expect(finished.code).toBe(0)
    expect(logLines(finished.stderr).some((l) => l.message === "shutting down")).toBe(true)
  }, 60_000)
})
