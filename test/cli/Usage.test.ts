/**
 * The CLI's surface without an engine: `--help` of every command, and bad input rejected with one line on stderr
 * that names the flag, argument or variable, and exit code 2. Secrets never reach the output.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { closedPort, expectRefusedWithOneLine, type RefusedCase, run } from "./Support.ts"

const commands = [
  [],
  ["serve"],
  ["orchestrator"],
  ["worker"],
  ["migrate"],
  ["demo"],
  ["task"],
  ["task", "create"],
  ["task", "get"],
  ["task", "list"],
  ["task", "cancel"]
]

describe("tasker --help", () => {
  it("exits 0 with the command's usage for every command", async () => {
    const results = await Promise.all(commands.map((path) => run([...path, "--help"])))
    results.forEach((result, i) => {
      const path = ["tasker", ...commands[i]!].join(" ")
      expect(result.code, `${path} --help: ${result.stderr}`).toBe(0)
      expect(result.stdout, path).toContain("USAGE")
      expect(result.stdout, path).toContain(path)
      expect(result.stderr, path).toBe("")
    })
    expect(results[0]!.stdout).toMatch(/serve[\s\S]*orchestrator[\s\S]*worker[\s\S]*migrate[\s\S]*demo[\s\S]*task/)
    expect(results[1]!.stdout).toContain("--roles")
    expect(results[2]!.stdout).toContain("--health-port")
    expect(results[3]!.stdout).toContain("--health-port")
    expect(results[7]!.stdout).toContain("--context")
  }, 90_000)
})

/** A UUID no task has. */
const someUuid = "01a21c4a-960d-79aa-9cea-a219129a5f00"
/** A loopback port nothing listens on (refused at once). */
let port = 0
let closedUrl = ""
beforeAll(async () => {
  port = await closedPort()
  closedUrl = `http://127.0.0.1:${port}`
})

const badInputs = (): ReadonlyArray<RefusedCase> => [
  // authentication that would be off (or guessable) without a word: refused before anything starts
  {
    name: "an empty TASKER_API_TOKEN",
    args: ["serve", "--port", "0"],
    env: { TASKER_API_TOKEN: "" },
    mentions: ["TASKER_API_TOKEN is set but empty"]
  },
  {
    name: "a short TASKER_API_TOKEN",
    args: ["serve", "--roles", "api", "--port", "0"],
    env: { TASKER_API_TOKEN: "hunter2" },
    mentions: ["TASKER_API_TOKEN is shorter than 16 characters"]
  },
  {
    name: "invalid JSON in --context",
    args: ["task", "create", "--namespace", "a", "--name", "b", "--version", "1", "--context", "{not json"],
    mentions: ["--context", "JSON"]
  },
  { name: "an unknown workflow", args: ["demo", "--workflow", "nope"], mentions: ["--workflow", "nope"] },
  { name: "an odd --n", args: ["demo", "--n", "7"], mentions: ["--n", "even"] },
  { name: "an invalid UUID", args: ["task", "get", "not-a-uuid"], mentions: ["task-uuid", "not-a-uuid"] },
  { name: "an unknown role", args: ["serve", "--roles", "api,bogus"], mentions: ["--roles", "bogus"] },
  { name: "an unknown namespace", args: ["worker", "--namespace", "nope"], mentions: ["--namespace", "nope"] },
  { name: "a port out of range", args: ["serve", "--port", "70000"], mentions: ["--port", "70000"] },
  { name: "an unknown --status", args: ["task", "list", "--status", "done"], mentions: ["--status", "done"] },
  {
    name: "an unreachable server (TASKER_URL)",
    args: ["task", "list"],
    env: { TASKER_URL: closedUrl },
    mentions: ["cannot reach", closedUrl]
  },
  {
    name: "an unreachable server",
    args: ["task", "get", someUuid, "--url", closedUrl],
    mentions: ["cannot reach", closedUrl, "--url", "ECONNREFUSED"]
  },
  {
    name: "a DATABASE_URL that is not PostgreSQL",
    args: ["demo"],
    env: { DATABASE_URL: "mysql://user:hunter2@localhost/db" },
    mentions: ["DATABASE_URL"]
  },
  {
    name: "an invalid TASKER_API_PORT",
    args: ["serve"],
    env: { TASKER_API_PORT: "99999" },
    mentions: ["TASKER_API_PORT"]
  }
]

describe("bad input", () => {
  it("exits 2 with one line on stderr naming the flag or field", async () => {
    const cases = badInputs()
    const results = await expectRefusedWithOneLine(cases)
    results.forEach((result, i) => expect(result.stderr, cases[i]!.name).not.toContain("hunter2"))
  }, 90_000)

  it("never prints the API token or the database password", async () => {
    const [api, db] = await Promise.all([
      run(["task", "list", "--url", closedUrl, "--token", "s3cret-token"]),
      run(["migrate", "--log-level", "warn"], { env: { DATABASE_URL: `postgres://tasker:hunter2@127.0.0.1:${port}/tasker` } })
    ])
    expect(api.code).toBe(2)
    expect(api.stdout + api.stderr).not.toContain("s3cret-token")
    // a token on the command line is refused, with directions (the process list would show it)
    expect(api.stderr).toContain("TASKER_API_TOKEN")
    expect(api.stderr).toContain("--token-file")
    // a database that cannot be reached is not bad input: exit 1, the cause named, the password not
    expect(db.code).toBe(1)
    expect(db.stderr).toMatch(/^tasker: .*ECONNREFUSED/m)
    expect(db.stdout + db.stderr).not.toContain("hunter2")
  }, 60_000)
})

describe("definitions", () => {
  it("EXAMPLE_NAMESPACES lists the namespaces of the example templates", async () => {
    const { exampleTemplates } = await import("../../src/examples/index.ts")
    const { EXAMPLE_NAMESPACES } = await import("../../src/cli/Flags.ts")
    expect([...EXAMPLE_NAMESPACES]).toEqual([...new Set(exampleTemplates.map((t) => t.namespace))])
  })
})
