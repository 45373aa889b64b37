/**
 * The README's commands, run as the README gives them: `npm start` prints a URL and a `curl` that creates a task
 * and submits the example tasks, the CLI commands it suggests work against that server, and the embedding example
 * (`npm run example`) is the file the README shows and runs on the embedded database and on PostgreSQL. (`npm install`, `npm test` and
 * `npm run test:reliability` are what CI runs.)
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { databases, root, type Running, startCommand } from "../cli/Support.ts"

const readme = readFileSync(`${root}README.md`, "utf8")
const sh = promisify(execFile)

/** The first fenced block of `language` after `heading`. */
const blockAfter = (heading: string, language: string) => {
  const section = readme.slice(readme.indexOf(heading))
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section)
  if (match === null) throw new Error(`no ${language} block after ${heading}`)
  return match[1]!
}

/** The application program of "Use it in your application". */
const readmeProgram = () => blockAfter("## Use it in your application", "ts")

/** A program of this repository as an application writes it: its relative imports as one import of `tasker-effect`. */
const asInstalled = (source: string): string => {
  const relative = /^import \{ (.*) \} from "\.\.?\/.*"$/
  const names = source.split("\n").flatMap((line) => relative.exec(line)?.[1]?.split(", ") ?? [])
  const combined = `import { ${names.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())).join(", ")} } from "tasker-effect"`
  const lines = source.split("\n")
  const first = lines.findIndex((line) => relative.test(line))
  return [...lines.slice(0, first), combined, ...lines.slice(first).filter((line) => !relative.test(line))].join("\n")
}

describe("README quick start", () => {
  let server: Running
  let url = ""
  const dbs = databases()

  beforeAll(async () => {
    expect(blockAfter("## Quick start", "sh").trim()).toBe("npm install && npm start")
    expect(blockAfter("## Use it in your application", "sh").trim()).toBe("npm install tasker-effect effect @effect/platform-node")
    // the README's command, on a free port so that tests can run side by side
    server = startCommand("npm", ["start", "--", "--port", "0"], { timeout: 240_000, processGroup: true })
    url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 180_000))[1]!
    await server.waitForStdout(/curl .*<task_uuid>/, 10_000)
  }, 200_000)

  afterAll(async () => {
    if (server.child.exitCode === null) await server.stop("SIGTERM")
    await dbs.release()
  })

  it("npm start prints a curl command that creates a task", async () => {
    const curl = server.stdout().split("\n").find((l) => l.includes("curl") && l.includes("-X POST"))!.trim()
    const { stdout } = await sh("bash", ["-c", curl])
    const created = JSON.parse(stdout) as { task_uuid: string; step_count: number }
    expect(created.step_count).toBe(4)
    const read = server.stdout().split("\n").find((l) => l.includes("curl") && l.includes("<task_uuid>"))!.trim()
    const { stdout: task } = await sh("bash", ["-c", read.replace("<task_uuid>", created.task_uuid)])
    expect(JSON.parse(task)).toMatchObject({ task_uuid: created.task_uuid, namespace: "rust_e2e_linear" })
  })

  it("npm start submits the example tasks, which the dashboard's API lists", async () => {
    expect(server.stdout()).toContain(`Example tasks (--examples): submitted 4 into the empty database; see them at ${url}/ui/tasks`)
    await expect.poll(async () => {
      const page = (await (await fetch(`${url}/v1/tasks?tag=example`)).json()) as { tasks: ReadonlyArray<{ status: string }> }
      return page.tasks.map((t) => t.status).sort()
    }, { timeout: 60_000, interval: 500 }).toEqual(["blocked_by_failures", "complete", "complete", "complete"])
  }, 90_000)

  it("the CLI commands the README suggests work against it", async () => {
    const commands = blockAfter("More to try", "sh")
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .map((line) => line.replace(/#.*$/, "").trim())
      .filter((line) => line.startsWith("npm run tasker -- task"))
    expect(commands).toHaveLength(2)
    for (const command of commands) {
      const { stdout } = await sh("bash", ["-c", `${command} --url ${url}`], { cwd: root })
      // npm prints the script it runs first; the command's JSON answer starts on a line of its own
      const answer = JSON.parse(stdout.slice(stdout.search(/^\{/m))) as { status?: string; tasks?: ReadonlyArray<unknown> }
      if (command.includes("create")) expect(answer.status).toBe("complete")
      else expect(answer.tasks?.length).toBeGreaterThanOrEqual(2)
    }
  }, 120_000)

  it("the embedding example is src/examples/quickstart.ts, and runs on the embedded database and on PostgreSQL", async () => {
    // the README imports from the package what quickstart.ts imports from the sources
    // (test/package/PackInstall.test.ts runs the README's program in an application that installed the package)
    const source = readFileSync(`${root}src/examples/quickstart.ts`, "utf8")
    expect(readmeProgram()).toBe(asInstalled(source.slice(source.indexOf("import "))))

    const expectations = (out: string) => {
      expect(out).toMatch(/task [0-9a-f-]+: complete/)
      expect(out).toContain(`confirm: "confirmed reservation-BOOK-1-2"`)
    }
    const embedded = await startCommand("npm", ["run", "example"], { timeout: 120_000 }).exited
    expect(embedded.code, embedded.stderr).toBe(0)
    expectations(embedded.stdout + embedded.stderr)

    const onPostgres = await startCommand("npm", ["run", "example"], {
      timeout: 120_000,
      env: { DATABASE_URL: await dbs.create() }
    }).exited
    expect(onPostgres.code, onPostgres.stderr).toBe(0)
    expectations(onPostgres.stdout + onPostgres.stderr)
  }, 240_000)

  it("npm run migrate applies the schema to DATABASE_URL", async () => {
    const migrated = await startCommand("npm", ["run", "migrate"], { env: { DATABASE_URL: await dbs.create() } }).exited
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout).toContain("0001_registry")
  }, 120_000)

  it("Ctrl-C (SIGTERM to npm and the server) stops it", async () => {
    await server.stop("SIGTERM")
    // the server's own exit code on SIGTERM (0) is checked by test/cli; here: nothing listens any more
    await expect(fetch(`${url}/health`)).rejects.toThrow()
  }, 60_000)
})
