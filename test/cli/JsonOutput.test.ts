/**
 * Commands that print JSON print nothing else on stdout, run as real processes: the whole stdout of `tasker task
 * create|get|list|cancel` parses as one JSON value (also with `--log-level debug`, also through `npm run -s tasker`,
 * the form docs/cli.md gives), every line of `tasker demo --json` is one JSON object, and a failing command prints
 * nothing on stdout. Without `--url` or `TASKER_URL`, `tasker task` talks to the address `tasker serve` would listen
 * on with the same environment (`TASKER_API_HOST`, `TASKER_API_PORT`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { closedPort, databases, run, type Running, start, startCommand } from "./Support.ts"

const db = databases()
let url = ""
let port = ""
let server: Running

beforeAll(async () => {
  const databaseUrl = await db.create()
  server = start(["serve", "--port", "0"], { env: { DATABASE_URL: databaseUrl }, timeout: 180_000 })
  url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:(\d+))/, 120_000))[1]!
  port = new URL(url).port
}, 150_000)

afterAll(async () => {
  if (server.child.exitCode === null) await server.stop("SIGTERM")
  await db.release()
}, 60_000)

/** Runs `tasker …args` and parses its whole stdout as JSON (which fails on anything else there). */
const json = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = await run(args, { env })
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0)
  return JSON.parse(result.stdout) as Record<string, any>
}

const ERRORS = ["--namespace", "test_errors", "--version", "1.0.0"] as const

describe("JSON on stdout, and nothing else", () => {
  it("task create, create --wait, get, list and cancel", async () => {
    const created = await json(["task", "create", ...ERRORS, "--name", "success_only", "--url", url])
    expect(created.task_uuid).toMatch(/^[0-9a-f-]{36}$/)

    // a task that ends blocked exits 1: its JSON is still the whole stdout
    const blocked = await run([
      "task",
      "create",
      ...ERRORS,
      "--name",
      "permanent_error_only",
      "--idempotency-key",
      "json-output-blocked",
      "--wait",
      "--url",
      url,
      "--log-level",
      "debug"
    ])
    expect(blocked.code, blocked.stderr).toBe(1)
    const blockedTask = JSON.parse(blocked.stdout) as { task_uuid: string; status: string }
    expect(blockedTask.status).toBe("blocked_by_failures")

    expect((await json(["task", "get", created.task_uuid, "--url", url, "--log-level", "debug"])).task_uuid).toBe(
      created.task_uuid
    )
    expect((await json(["task", "list", "--url", url])).tasks.length).toBeGreaterThanOrEqual(2)
    expect((await json(["task", "cancel", blockedTask.task_uuid, "--url", url])).status).toBe("cancelled")

    // a failure: one line on stderr, nothing on stdout
    const again = await run(["task", "cancel", blockedTask.task_uuid, "--url", url])
    expect(again.code).toBe(2)
    expect(again.stdout).toBe("")
    expect(again.stderr).toMatch(/^tasker: the API answered 409 CONFLICT/m)
  }, 120_000)

  it("through npm run -s tasker, as docs/cli.md writes it", async () => {
    const result = await startCommand("npm", ["run", "-s", "tasker", "--", "task", "list", "--url", url], {
      timeout: 60_000
    }).exited
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout).tasks.length).toBeGreaterThanOrEqual(1)
  }, 60_000)

  it("demo --json: one JSON object per line", async () => {
    const result = await run(["demo", "--workflow", "diamond", "--json", "--log-level", "debug"], { timeout: 120_000 })
    expect(result.code, result.stderr).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ namespace: "rust_e2e_diamond", status: "complete" })
    // the debug logs are there, on stderr
    expect(result.stderr.length).toBeGreaterThan(0)
  }, 120_000)
})

describe("the default --url", () => {
  it("is the address tasker serve listens on with the same TASKER_API_HOST and TASKER_API_PORT", async () => {
    // no --url, no TASKER_URL: the port of the server's environment
    expect((await json(["task", "list"], { TASKER_API_PORT: port })).tasks).toBeInstanceOf(Array)
    // a server listening on every interface is reached on loopback
    expect((await json(["task", "list"], { TASKER_API_HOST: "0.0.0.0", TASKER_API_PORT: port })).tasks).toBeInstanceOf(
      Array
    )
    // TASKER_URL still wins
    expect((await json(["task", "list"], { TASKER_URL: url, TASKER_API_PORT: "1" })).tasks).toBeInstanceOf(Array)

    const elsewhere = String(await closedPort())
    const unreachable = await run(["task", "list"], { env: { TASKER_API_PORT: elsewhere } })
    expect(unreachable.code).toBe(2)
    expect(unreachable.stdout).toBe("")
    expect(unreachable.stderr).toContain(`cannot reach the tasker API at http://127.0.0.1:${elsewhere}`)

    const invalid = await run(["task", "list"], { env: { TASKER_API_PORT: "eighty" } })
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toContain("--url")
  }, 60_000)
})
