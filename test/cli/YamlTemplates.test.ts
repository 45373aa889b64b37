/**
 * YAML templates given to `tasker serve|worker` directly: `--templates <directory or .yaml/.yml file>` (or
 * `TASKER_TEMPLATES`) with `--handlers <module>` (or `TASKER_HANDLERS`), which binds the YAML steps' callables to
 * handlers (src/cli/Templates.ts). Fixtures: `test/cli/fixtures/yaml/` (two templates, one in a subdirectory, and a
 * file that is not a template) and `test/cli/fixtures/yaml-handlers.ts` (named exports, a `handlers` record and a
 * `layer` for a service a handler uses).
 *
 * - `serve --templates <dir> --handlers <module>` hosts every template of the directory and runs their tasks;
 * - `worker` with `TASKER_TEMPLATES=examples,<file.yaml>` and `TASKER_HANDLERS` hosts both;
 * - a YAML file that does not parse, a callable no handlers module exports, a worker without `--handlers`, a missing
 *   path, a directory without templates, a missing or empty handlers module and `--handlers` without YAML templates
 *   each exit 2 with one line naming the flag (or variable) and the file, before any database is opened.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliOnMigratedDatabase, closedPort, expectRefusedWithOneLine, type RefusedCase, run } from "./Support.ts"

const DIR = "test/cli/fixtures/yaml"
const HANDLERS = "test/cli/fixtures/yaml-handlers.ts"

const cli = cliOnMigratedDatabase()
const launch = cli.launch
let tmp = ""

const GHOST = `
name: ghost
namespace_name: yaml_cli
version: 1.0.0
steps:
  - name: haunt
    handler: { callable: GhostHandler }
`

beforeAll(async () => {
  await cli.setup()
  tmp = mkdtempSync(join(tmpdir(), "tasker-yaml-"))
  mkdirSync(join(tmp, "broken"))
  writeFileSync(join(tmp, "broken", "fine.yaml"), GHOST.replace("ghost", "fine"))
  writeFileSync(join(tmp, "broken", "unclosed.yaml"), "name: [unclosed\nsteps: []\n")
  writeFileSync(join(tmp, "ghost.yaml"), GHOST)
  mkdirSync(join(tmp, "empty"))
  writeFileSync(join(tmp, "empty", "notes.txt"), "no templates here\n")
  writeFileSync(join(tmp, "no-handlers.mjs"), "export const answer = 42\n")
}, 60_000)

afterAll(async () => {
  await cli.teardown()
  rmSync(tmp, { recursive: true, force: true })
}, 60_000)

interface Step {
  readonly name: string
  readonly current_state: string
  readonly results: { readonly result?: unknown } | null
}

describe("--templates with YAML files and --handlers", () => {
  it("serve --templates <dir> --handlers <module> hosts every YAML template of the directory and runs it", async () => {
    const server = launch(["serve", "--templates", DIR, "--handlers", HANDLERS, "--port", "0"])
    const api = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 90_000))[1]!
    await server.waitForStdout(/Templates: .*/, 10_000)
    expect(server.stdout()).toContain("yaml_cli/squares@1.0.0")
    expect(server.stdout()).toContain("yaml_cli/cubes@1.0.0")

    const runTask = async (name: string, n: number) => {
      const created = await run([
        "task",
        "create",
        "--url",
        api,
        "--namespace",
        "yaml_cli",
        "--name",
        name,
        "--version",
        "1.0.0",
        "--context",
        JSON.stringify({ n }),
        "--wait",
        "--timeout",
        "60"
      ])
      expect(created.code, created.stderr).toBe(0)
      const task = JSON.parse(created.stdout) as { status: string; steps: ReadonlyArray<Step> }
      expect(task.status).toBe("complete")
      return Object.fromEntries(task.steps.map((s) => [s.name, s.results?.result]))
    }
    // square: 4² = 16; scale: 16 × factor 3 (the step's initialization) + offset 1 (the handlers module's layer)
    expect(await runTask("squares", 4)).toEqual({ square: 16, scale: 49 })
    expect(await runTask("cubes", 3)).toEqual({ cube: 27 })

    const stopped = await server.stop()
    expect(stopped.code, stopped.stderr).toBe(0)
  }, 120_000)

  it("worker with TASKER_TEMPLATES=examples,<file.yaml> and TASKER_HANDLERS hosts both", async () => {
    const worker = launch(["worker", "--health-port", "0"], {
      TASKER_TEMPLATES: `examples,${DIR}/squares.yaml`,
      TASKER_HANDLERS: HANDLERS
    })
    const base = (await worker.waitForStdout(/tasker worker health: (http:\/\/127\.0\.0\.1:\d+)\/health/, 90_000))[1]!
    const health = (await (await fetch(`${base}/health`)).json()) as { namespaces: ReadonlyArray<string> }
    expect(health.namespaces).toContain("yaml_cli")
    expect(health.namespaces).toContain("rust_e2e_linear")
    const stopped = await worker.stop()
    expect(stopped.code, stopped.stderr).toBe(0)
  }, 120_000)

  it("every problem exits 2 with one line naming the flag or variable and the file, before the database", async () => {
    // nothing listens there: the templates and handlers are checked before any database is opened
    const unreachable = `postgres://tasker@127.0.0.1:${await closedPort()}/tasker`
    const cases: ReadonlyArray<RefusedCase> = [
      {
        name: "a YAML file in a directory that does not parse",
        args: ["worker", "--templates", join(tmp, "broken"), "--handlers", HANDLERS],
        mentions: [`--templates ${join(tmp, "broken", "unclosed.yaml")}: `, "YAML"]
      },
      {
        name: "a callable that no handlers module exports",
        args: ["serve", "--templates", join(tmp, "ghost.yaml"), "--handlers", HANDLERS],
        mentions: [
          `--templates ${join(tmp, "ghost.yaml")}: `,
          `step "haunt": no handler for "GhostHandler"`,
          "the --handlers modules export: CubeHandler, ScaleHandler, SquareHandler"
        ]
      },
      {
        name: "TASKER_HANDLERS, a callable that no handlers module exports",
        args: ["worker"],
        env: { TASKER_TEMPLATES: join(tmp, "ghost.yaml"), TASKER_HANDLERS: HANDLERS },
        mentions: [`TASKER_TEMPLATES ${join(tmp, "ghost.yaml")}: `, `"GhostHandler"`, "the TASKER_HANDLERS modules export"]
      },
      {
        name: "a worker for YAML templates without --handlers",
        args: ["worker", "--templates", DIR],
        mentions: [`--templates ${DIR}/more/cubes.yml: `, `no handler for "CubeHandler"`, "with --handlers"]
      },
      {
        name: "a missing directory",
        args: ["serve", "--templates", "./no/such/workflows/"],
        mentions: ["--templates ./no/such/workflows/: ", "no such file or directory"]
      },
      {
        name: "a directory without templates",
        args: ["serve", "--templates", join(tmp, "empty"), "--handlers", HANDLERS],
        mentions: [`--templates ${join(tmp, "empty")}: `, "no template files (*.yaml, *.yml)"]
      },
      {
        name: "a missing handlers module",
        args: ["worker", "--templates", DIR, "--handlers", "./no/such/handlers.ts"],
        mentions: ["--handlers ./no/such/handlers.ts: ", "no such file"]
      },
      {
        name: "a handlers module without handlers",
        args: ["worker", "--templates", DIR, "--handlers", join(tmp, "no-handlers.mjs")],
        mentions: [`--handlers ${join(tmp, "no-handlers.mjs")}: `, "exports no step handlers"]
      },
      {
        name: "--handlers without YAML templates",
        args: ["serve", "--templates", "examples", "--handlers", HANDLERS],
        mentions: [`--handlers ${HANDLERS}: `, "no --templates value is a YAML file or a directory"]
      },
      {
        name: "TASKER_HANDLERS without templates",
        args: ["serve"],
        env: { TASKER_HANDLERS: HANDLERS },
        mentions: ["TASKER_HANDLERS: ", "name the templates with --templates"]
      }
    ]
    await expectRefusedWithOneLine(cases, { DATABASE_URL: unreachable })
  }, 90_000)
})
