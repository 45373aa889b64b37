/**
 * `--templates <module>` / `TASKER_TEMPLATES` of `tasker serve` and `tasker worker` (src/cli/Templates.ts), with
 * the reliability fixture module (`test/reliability/fixtures/templates.ts`: a gated template whose handlers need
 * the module's `layer`):
 *
 * - `serve --templates <module>` hosts the module's templates instead of the examples and runs their tasks;
 * - `worker --templates <module>` hosts its namespaces; `TASKER_TEMPLATES=examples,<module>` hosts both;
 * - a missing file, a module without templates and a module with a bad default export each exit 2 with one line
 *   naming the flag (or the variable), before any database is opened.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliOnMigratedDatabase, closedPort, expectRefusedWithOneLine, type RefusedCase, run, type Running } from "./Support.ts"

const FIXTURE = "test/reliability/fixtures/templates.ts"

const cli = cliOnMigratedDatabase()
const launch = cli.launch
let dir = ""

beforeAll(async () => {
  await cli.setup()
  dir = mkdtempSync(join(tmpdir(), "tasker-templates-"))
  writeFileSync(join(dir, "no-templates.mjs"), "export const answer = 42\n")
  writeFileSync(join(dir, "bad-default.mjs"), "export default { hello: 'world' }\n")
}, 60_000)

afterAll(async () => {
  await cli.teardown()
  rmSync(dir, { recursive: true, force: true })
}, 60_000)

describe("--templates", () => {
  it("serve --templates <module> hosts the module's templates (with its layer) instead of the examples", async () => {
    const server = launch(["serve", "--templates", FIXTURE, "--port", "0"])
    const api = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1]!

    writeFileSync(join(dir, "serve.release"), "")
    const created = await run([
      "task",
      "create",
      "--url",
      api,
      "--namespace",
      "reliability",
      "--name",
      "gated",
      "--version",
      "1.0.0",
      "--context",
      JSON.stringify({ dir, gate: "serve" }),
      "--wait",
      "--timeout",
      "60"
    ])
    expect(created.code, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({ status: "complete" })

    // the examples are not hosted (nor registered in this database)
    const example = await fetch(`${api}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0", context: { even_number: 2 } })
    })
    expect(example.status).toBe(404)

    const stopped = await server.stop()
    expect(stopped.code, stopped.stderr).toBe(0)
  }, 120_000)

  it("worker --templates <module>, and TASKER_TEMPLATES=examples,<module>", async () => {
    const flag = launch(["worker", "--templates", FIXTURE, "--health-port", "0"])
    const env = launch(["worker", "--health-port", "0"], { TASKER_TEMPLATES: `examples,${FIXTURE}` })
    const health = async (p: Running) => {
      const base = (await p.waitForStdout(/tasker worker health: (http:\/\/127\.0\.0\.1:\d+)\/health/, 90_000))[1]!
      return (await (await fetch(`${base}/health`)).json()) as { namespaces: ReadonlyArray<string> }
    }
    const [fromFlag, fromEnv] = await Promise.all([health(flag), health(env)])
    expect(fromFlag.namespaces).toEqual(["reliability"])
    expect(fromEnv.namespaces).toContain("reliability")
    expect(fromEnv.namespaces).toContain("rust_e2e_linear")

    for (const finished of await Promise.all([flag.stop(), env.stop()])) {
      expect(finished.code, finished.stderr).toBe(0)
    }
  }, 120_000)

  it("a missing file, a module without templates and a bad default export exit 2 naming the flag or variable", async () => {
    // nothing listens there: the modules are checked before any database is opened
    const unreachable = `postgres://tasker@127.0.0.1:${await closedPort()}/tasker`
    const cases: ReadonlyArray<RefusedCase> = [
      {
        name: "serve: a missing file",
        args: ["serve", "--templates", "./no/such/workflows.ts"],
        mentions: ["--templates ./no/such/workflows.ts", "no such file"]
      },
      {
        name: "worker: a module without templates",
        args: ["worker", "--templates", join(dir, "no-templates.mjs")],
        mentions: ["--templates", "no-templates.mjs", "exports no workflow templates"]
      },
      {
        name: "serve: a bad default export",
        args: ["serve", "--templates", join(dir, "bad-default.mjs")],
        mentions: ["--templates", "bad-default.mjs", "default export"]
      },
      {
        name: "worker: a bad default export (with a good module first)",
        args: ["worker", "--templates", FIXTURE, "--templates", join(dir, "bad-default.mjs")],
        mentions: ["--templates", "bad-default.mjs", "default export"]
      },
      {
        name: "TASKER_TEMPLATES: a missing file",
        args: ["worker"],
        env: { TASKER_TEMPLATES: `examples,./no/such/workflows.ts` },
        mentions: ["TASKER_TEMPLATES ./no/such/workflows.ts", "no such file"]
      }
    ]
    await expectRefusedWithOneLine(cases, { DATABASE_URL: unreachable })
  }, 90_000)
})
