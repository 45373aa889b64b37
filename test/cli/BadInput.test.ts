/**
 * Bad input through the `tasker` CLI, against a real `tasker serve` on a fresh PostgreSQL database (with an API
 * token): every bad flag or argument of `tasker task …` exits 2 with one line on stderr naming the flag (what the
 * CLI can judge is refused before any request; what only the server can judge comes back as the API's 4xx with
 * its field), nothing is written, the server stays up and a good command succeeds afterwards. SQL-looking and
 * unicode text in the flags the API accepts is stored verbatim.
 *
 * And templates modules with a cyclic or self-referencing template, an unknown dependency, a step without a
 * handler, a namespace that cannot name a queue or an overlong name: `tasker serve|worker --templates` (or
 * `TASKER_TEMPLATES`) exits 2 naming where the module came from and the problem, before it opens the database.
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import type { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { postgresSqlLayer } from "../../layers/postgres.ts"
import { halfTasks, tableCounts } from "../support/Integrity.ts"
import { closedPort, databases, type Finished, run, type Running, start } from "./Support.ts"

const TOKEN = "cli-bad-input-token-5150"
const LINEAR = ["--namespace", "rust_e2e_linear", "--name", "mathematical_sequence", "--version", "1.0.0"] as const
const SQLISH = "x'; DROP TABLE tasker_tasks; --"

/** Runs `jobs` at most `width` at a time (two cores, other test files): each starts a Node process. */
const limited = async <A>(jobs: ReadonlyArray<() => Promise<A>>, width = 4): Promise<ReadonlyArray<A>> => {
  const results: Array<A> = new Array(jobs.length)
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]!()
    }
  }))
  return results
}

/** The `tasker: ` lines of stderr. */
const errorLines = (f: Finished) => f.stderr.split("\n").filter((l) => l.startsWith("tasker: "))

const expectUsageError = (f: Finished, label: string, mentions: ReadonlyArray<string>) => {
  expect(f.code, `${label}: ${f.stderr}`).toBe(2)
  const lines = errorLines(f)
  expect(lines, `${label}: ${f.stderr}`).toHaveLength(1)
  for (const m of mentions) expect(lines[0], label).toContain(m)
  expect(f.stdout, label).toBe("")
}

describe("tasker task: bad input against a running server", () => {
  const db = databases()
  let server: Running
  let url = ""
  let runtime: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, never>
  const sql = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => runtime.runPromise(effect)
  /** `tasker task …` against the server, with `TASKER_API_TOKEN=token` (none when null) */
  const task = (args: ReadonlyArray<string>, token: string | null = TOKEN) =>
    run(["task", ...args, "--url", url], token === null ? {} : { env: { TASKER_API_TOKEN: token } })

  beforeAll(async () => {
    const databaseUrl = await db.create()
    server = start(["serve", "--port", "0"], {
      env: { DATABASE_URL: databaseUrl, TASKER_API_TOKEN: TOKEN, TASKER_DB_MAX_CONNECTIONS: "4", LOG_FORMAT: "json" },
      timeout: 300_000
    })
    url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
    runtime = ManagedRuntime.make(postgresSqlLayer({ url: databaseUrl, maxConnections: 2, autoMigrate: false }).pipe(Layer.orDie))
  }, 150_000)

  afterAll(async () => {
    if (server !== undefined && server.child.exitCode === null) await server.stop("SIGKILL")
    await runtime?.dispose()
    await db.release()
  })

  it("each bad flag or argument exits 2 naming it; nothing is written; the server stays up", async () => {
    const before = await sql(tableCounts)
    const cases: ReadonlyArray<{ readonly label: string; readonly args: ReadonlyArray<string>; readonly token?: string | null; readonly mentions: ReadonlyArray<string> }> = [
      // refused by the CLI before any request
      { label: "malformed JSON context", args: ["create", ...LINEAR, "--context", "{\"even_number\": "], mentions: ["--context"] },
      { label: "array context", args: ["create", ...LINEAR, "--context", "[6]"], mentions: ["--context", "Expected object"] },
      { label: "NUL in context", args: ["create", ...LINEAR, "--context", "{\"a\": \"\\u0000\"}"], mentions: ["--context", "NUL"] },
      { label: "missing --namespace", args: ["create", "--name", "x", "--version", "1"], mentions: ["--namespace"] },
      { label: "long unicode --name", args: ["create", "--namespace", "a", "--name", "名".repeat(65), "--version", "1"], mentions: ["--name", "64"] },
      { label: "long emoji --namespace", args: ["create", "--namespace", "😀".repeat(40), "--name", "x", "--version", "1"], mentions: ["--namespace"] },
      { label: "priority beyond 32 bits", args: ["create", ...LINEAR, "--priority", String(2 ** 40)], mentions: ["--priority"] },
      { label: "long --tag", args: ["create", ...LINEAR, "--tag", "t".repeat(300)], mentions: ["--tag", "256"] },
      { label: "bad --correlation-id", args: ["create", ...LINEAR, "--correlation-id", SQLISH], mentions: ["--correlation-id"] },
      { label: "SQL task uuid (cancel)", args: ["cancel", SQLISH], mentions: ["task-uuid"] },
      { label: "unknown --status", args: ["list", "--status", SQLISH], mentions: ["--status"] },
      // judged by the server: the API's 4xx with its field
      { label: "SQL namespace", args: ["create", "--namespace", SQLISH, "--name", "x", "--version", "1.0.0"], mentions: ["404 NOT_FOUND (field namespace)"] },
      {
        label: "SQL name",
        args: ["create", "--namespace", "rust_e2e_linear", "--name", "' OR '1'='1", "--version", "1.0.0"],
        mentions: ["404 NOT_FOUND (field name)"]
      },
      {
        label: "SQL version",
        args: ["create", "--namespace", "rust_e2e_linear", "--name", "mathematical_sequence", "--version", "1' --"],
        mentions: ["404 NOT_FOUND (field version)"]
      },
      {
        label: "unicode name that fits",
        args: ["create", "--namespace", "rust_e2e_linear", "--name", "é名😀".repeat(10), "--version", "1.0.0"],
        mentions: ["404 NOT_FOUND (field name)"]
      },
      {
        label: "context failing the input schema",
        args: ["create", ...LINEAR, "--context", "{\"even_number\": \"6\"}"],
        mentions: ["422 VALIDATION_ERROR (field context.even_number)"]
      },
      {
        label: "SQL in the context",
        args: ["create", ...LINEAR, "--context", JSON.stringify({ even_number: SQLISH })],
        mentions: ["422 VALIDATION_ERROR (field context.even_number)"]
      },
      { label: "unknown task", args: ["get", "01a21c4a-960d-79aa-9cea-a219129a5f00"], mentions: ["404 NOT_FOUND (field task_uuid)"] },
      { label: "no token", args: ["list"], token: null, mentions: ["401 UNAUTHORIZED"] },
      { label: "wrong token", args: ["create", ...LINEAR, "--context", "{\"even_number\": 6}"], token: "wrong-token", mentions: ["401 UNAUTHORIZED"] }
    ]
    const results = await limited(cases.map((c) => () => task(c.args, c.token === undefined ? TOKEN : c.token)))
    results.forEach((result, i) => expectUsageError(result, cases[i]!.label, cases[i]!.mentions))

    expect(await sql(tableCounts)).toEqual(before)
    expect(await sql(halfTasks)).toEqual([])
    expect(server.child.exitCode).toBeNull()
    expect((await fetch(`${url}/health`)).status).toBe(200)
  }, 240_000)

  it("SQL-looking and unicode text in the flags the API accepts is stored verbatim; the task runs", async () => {
    const tags = [SQLISH, "' OR '1'='1", "名前 😀", "\u202eRTL"]
    const key = `${SQLISH} ü`
    const created = await task([
      "create",
      ...LINEAR,
      "--context",
      "{\"even_number\": 2}",
      ...tags.flatMap((t) => ["--tag", t]),
      "--idempotency-key",
      key,
      "--wait",
      "--timeout",
      "60"
    ])
    expect(created.code, created.stderr).toBe(0)
    const detail = JSON.parse(created.stdout) as { task_uuid: string; status: string; tags: ReadonlyArray<string> }
    expect(detail.status).toBe("complete")
    expect(detail.tags).toEqual(tags)
    // the same key again: the same task (the key matched as a value, not as SQL)
    const again = await task(["create", ...LINEAR, "--context", "{\"even_number\": 2}", "--idempotency-key", key])
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ task_uuid: detail.task_uuid, created: false })
    expect(await sql(halfTasks)).toEqual([])
  }, 120_000)
})

describe("templates modules that do not validate", () => {
  const MODULE = "test/cli/fixtures/bad-templates.ts"
  let deadDatabase = ""
  beforeAll(async () => {
    // nothing listens there: a process that got as far as the database would exit 1 (ECONNREFUSED), not 2
    deadDatabase = `postgres://root@127.0.0.1:${await closedPort()}/tasker`
  })

  const templates: ReadonlyArray<{ readonly name: string; readonly mentions: ReadonlyArray<string> }> = [
    { name: "Cyclic", mentions: ["bad_modules/cyclic@1.0.0", "dependency cycle: a -> c -> b -> a"] },
    { name: "SelfReference", mentions: ["bad_modules/self_reference@1.0.0", "dependency cycle: loop -> loop"] },
    { name: "UnknownDependency", mentions: [`step "b" depends on unknown step "ghost"`] },
    { name: "MissingHandler", mentions: [`step "lonely": no handler`] },
    { name: "BadNamespace", mentions: ["must be 1-40 characters of a-z, 0-9 and _"] },
    { name: "LongName", mentions: ["name must be 1-64 characters"] }
  ]

  it("serve and worker exit 2 naming --templates or TASKER_TEMPLATES and the problem, before the database", async () => {
    // every template with `worker --templates`; `serve` with the variable once (the same loading code)
    const jobs = [
      ...templates.map((t) => ({
        label: `worker --templates (${t.name})`,
        args: ["worker", "--health-port", "0", "--templates", MODULE],
        env: { BAD_TEMPLATE: t.name },
        mentions: [`--templates ${MODULE}`, "invalid template", ...t.mentions]
      })),
      {
        label: "serve with TASKER_TEMPLATES",
        args: ["serve", "--port", "0"],
        env: { BAD_TEMPLATE: "SelfReference", TASKER_TEMPLATES: `examples,${MODULE}` },
        mentions: [`TASKER_TEMPLATES ${MODULE}`, "invalid template", ...templates[1]!.mentions]
      },
      {
        label: "a missing module",
        args: ["worker", "--templates", "test/cli/fixtures/no-such-module.ts"],
        env: {},
        mentions: ["--templates test/cli/fixtures/no-such-module.ts", "no such file"]
      },
      {
        label: "a module without templates",
        args: ["worker", "--templates", "test/support/Integrity.ts"],
        env: {},
        mentions: ["--templates test/support/Integrity.ts", "exports no workflow templates"]
      }
    ]
    // the API and the orchestrator need no handlers: the module is accepted, the process goes on to the database
    const apiOnly = {
      args: ["serve", "--roles", "api,orchestrator", "--port", "0", "--templates", MODULE],
      env: { BAD_TEMPLATE: "MissingHandler" }
    }
    const results = await limited([...jobs, apiOnly].map((j) => () =>
      run(j.args, { env: { ...j.env, DATABASE_URL: deadDatabase } })
    ))
    jobs.forEach((j, i) => expectUsageError(results[i]!, j.label, j.mentions))
    const api = results[jobs.length]!
    expect(api.code, api.stderr).toBe(1)
    expect(errorLines(api)[0]).toContain("ECONNREFUSED")
  }, 240_000)
})
