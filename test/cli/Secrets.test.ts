/**
 * The API token and the database password never reach a log line, an error message or a response: a real
 * `tasker serve` (debug logging) runs with `TASKER_API_TOKEN` and a `DATABASE_URL` carrying a password (the test
 * server trusts every connection, so any password is accepted), and the test provokes what could leak them:
 * requests without, with a wrong, or a mangled token on every endpoint, bad input with the right token, a failing
 * step, every database connection killed under the running server, and `tasker task` commands with right and wrong
 * tokens. Then `tasker serve|worker|migrate` with database URLs that fail (unknown database, unknown role, nothing
 * listening, malformed password encoding, TLS refused), from the variable and from `--database-url`. Everything the
 * processes print (stdout and stderr) and every response body is searched for the secrets, raw and URL-encoded.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminUrl } from "../support/TestDatabase.ts"
import { closedPort, databases, type Finished, run, type Running, start } from "./Support.ts"

const TOKEN = `tok-${randomBytes(8).toString("hex")}-secret`
/** `#` and `@` must be percent-encoded in a URL: the encoded form is searched for too */
const PASSWORD = `pw#${randomBytes(6).toString("hex")}@leak`
const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const

/** `url` with the password set (percent-encoded by `URL`). */
const withPassword = (url: string, password = PASSWORD) => {
  const u = new URL(url)
  u.password = password
  return u.toString()
}

/** The secrets in every form they could appear in. */
const secretForms = (databaseUrl: string) => [TOKEN, PASSWORD, encodeURIComponent(PASSWORD), databaseUrl]

const expectNoSecret = (text: string, forms: ReadonlyArray<string>, label: string) => {
  for (const secret of forms) {
    const at = text.indexOf(secret)
    expect(at, `${label} contains a secret: …${text.slice(Math.max(0, at - 200), at + 200)}…`).toBe(-1)
  }
}

/** Ends every connection to `database` (a database restart, as the server sees it). */
const terminateConnections = (database: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const admin = yield* PgClient.makeClient({ url: Redacted.make(adminUrl) })
      const rows = yield* admin<{ pid: number }>`
        SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity
        WHERE datname = ${database} AND pid <> pg_backend_pid()`
      return rows.length
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))
  )

describe("secrets in a running server's output", () => {
  const db = databases()
  let databaseUrl = ""
  let database = ""
  let server: Running
  let url = ""
  const bodies: Array<string> = []

  /** A raw request; the response is kept for the final search unless `keep` is false. */
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string, keep = true) => {
    const response = await fetch(url + path, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body })
    })
    const text = await response.text()
    if (keep) bodies.push(`${method} → ${response.status} ${text}`)
    return { status: response.status, text }
  }
  const auth = { authorization: `Bearer ${TOKEN}` }

  beforeAll(async () => {
    const plain = await db.create()
    database = new URL(plain).pathname.slice(1)
    databaseUrl = withPassword(plain)
    server = start(["serve", "--port", "0"], {
      env: {
        DATABASE_URL: databaseUrl,
        TASKER_API_TOKEN: TOKEN,
        LOG_LEVEL: "debug",
        TASKER_DB_MAX_CONNECTIONS: "4",
        TASKER_POLL_INTERVAL_MS: "200"
      },
      timeout: 300_000
    })
    url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
  }, 150_000)

  afterAll(async () => {
    if (server !== undefined && server.child.exitCode === null) await server.stop("SIGKILL")
    await db.release()
  })

  it("neither the token nor the database password appears in logs, errors or responses", async () => {
    const someUuid = "01a21c4a-960d-79aa-9cea-a219129a5f00"
    const badCredentials: ReadonlyArray<Record<string, string>> = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`root:${TOKEN}`).toString("base64")}` },
      { "x-api-key": `${TOKEN} ` + TOKEN }
    ]
    for (const headers of badCredentials) {
      expect((await call("POST", "/v1/tasks", headers, JSON.stringify(SUCCESS))).status).toBe(401)
      expect((await call("GET", "/v1/tasks", headers)).status).toBe(401)
      expect((await call("DELETE", `/v1/tasks/${someUuid}`, headers)).status).toBe(401)
      expect((await call("PATCH", `/v1/tasks/${someUuid}/workflow_steps/${someUuid}`, headers, "{\"action\":\"retry\"}")).status)
        .toBe(401)
    }
    // bad input with the right token
    expect((await call("POST", "/v1/tasks", auth, "{not json")).status).toBe(400)
    expect((await call("POST", "/v1/tasks", auth, JSON.stringify({ ...SUCCESS, name: "nope" }))).status).toBe(404)
    expect((await call("POST", "/v1/tasks", auth, JSON.stringify({ ...SUCCESS, context: { blob: "x".repeat(2 << 20) } }))).status)
      .toBe(413)
    expect((await call("GET", "/v1/tasks/not-a-uuid", auth)).status).toBe(400)
    // the token where it does not belong (a query parameter): the answer may quote it back to its sender, the
    // logs must not
    expect((await call("GET", `/v1/tasks?status=${encodeURIComponent(TOKEN)}`, auth, undefined, false)).status).toBe(400)
    // a failing step and a good task
    const failing = await call(
      "POST",
      "/v1/tasks",
      auth,
      JSON.stringify({ namespace: "test_errors", name: "permanent_error_only", version: "1.0.0" })
    )
    expect(failing.status).toBe(201)
    const good = await call("POST", "/v1/tasks", auth, JSON.stringify({ ...SUCCESS, context: { n: 1 } }))
    expect(good.status).toBe(201)
    const goodUuid = JSON.parse(good.text).task_uuid as string
    expect((await call("GET", `/v1/tasks/${goodUuid}/wait?timeout_ms=20000`, auth)).text).toContain("\"complete\"")

    // the database goes away under the server: every connection killed, twice; it reconnects
    expect(await terminateConnections(database)).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 300))
    await call("GET", "/ready")
    await terminateConnections(database)
    const deadline = Date.now() + 60_000
    let after = await call("POST", "/v1/tasks", auth, JSON.stringify({ ...SUCCESS, context: { n: 2 } }))
    while (after.status !== 201 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      after = await call("POST", "/v1/tasks", auth, JSON.stringify({ ...SUCCESS, context: { n: 2 } }))
    }
    expect(after.status, after.text).toBe(201)
    const afterUuid = JSON.parse(after.text).task_uuid as string
    expect((await call("GET", `/v1/tasks/${afterUuid}/wait?timeout_ms=30000`, auth)).text).toContain("\"complete\"")

    // the CLI against it, with the right and wrong tokens, from --token-file and the variable
    const tokenDir = mkdtempSync(join(tmpdir(), "tasker-token-"))
    const wrongFile = join(tokenDir, "wrong")
    const rightFile = join(tokenDir, "right")
    writeFileSync(wrongFile, `${TOKEN}-wrong\n`, { mode: 0o600 })
    writeFileSync(rightFile, `${TOKEN}\n`, { mode: 0o600 })
    const cli: ReadonlyArray<Finished> = await Promise.all([
      run(["task", "list", "--url", url, "--token-file", wrongFile]),
      run(["task", "create", "--namespace", "nope", "--name", "x", "--version", "1", "--url", url, "--token-file", rightFile]),
      run(["task", "get", someUuid, "--url", url], { env: { TASKER_API_TOKEN: TOKEN } })
    ])
    expect(cli.map((f) => f.code)).toEqual([2, 2, 2])
    expect(cli[0]!.stderr).toContain("401 UNAUTHORIZED")
    // the right token from the file authenticated: the answer is the unknown template's 404, not a 401
    expect(cli[1]!.stderr).toContain("404 NOT_FOUND")
    rmSync(tokenDir, { recursive: true, force: true })
    cli.forEach((f, i) => expectNoSecret(f.stdout + f.stderr, [TOKEN, PASSWORD], `tasker task run ${i}`))

    const finished = await server.stop("SIGTERM")
    expect(finished.code).toBe(0)
    const output = finished.stdout + finished.stderr
    // the output holds what could have leaked: the 401s, the step failure, the lost connections, debug lines
    expect(output).toContain("\"http.status\":401")
    expect(output).toContain("Step failed")
    expect(output).toMatch(/lost its connection|reconnect|terminat/i)
    expect(output).toContain("\"level\":\"DEBUG\"")
    expectNoSecret(output, secretForms(databaseUrl), "the server's output")
    expectNoSecret(bodies.join("\n"), secretForms(databaseUrl), "the responses")
  }, 240_000)
})

describe("secrets in failing database connections", () => {
  it("the password is not in the error of any failing connection, from DATABASE_URL or --database-url", async () => {
    const port = await closedPort()
    const urls: ReadonlyArray<{ readonly label: string; readonly url: string; readonly cause: RegExp }> = [
      { label: "unknown database", url: withPassword("postgres://root@127.0.0.1:5432/no_such_database_x"), cause: /does not exist/ },
      { label: "unknown role", url: withPassword("postgres://nobody_at_all@127.0.0.1:5432/test"), cause: /role .* does not exist/ },
      { label: "nothing listening", url: withPassword(`postgres://root@127.0.0.1:${port}/test`), cause: /ECONNREFUSED/ },
      { label: "TLS refused", url: withPassword("postgres://root@127.0.0.1:5432/test") + "?sslmode=require", cause: /TLS/ },
      {
        label: "malformed password encoding",
        url: `postgres://root:${encodeURIComponent(PASSWORD)}%zz@127.0.0.1:5432/test`,
        cause: /percent-encoding|Invalid/
      }
    ]
    const runs = [
      ...urls.map((u) => ({ ...u, args: ["serve", "--port", "0"], env: { DATABASE_URL: u.url } })),
      { ...urls[0]!, label: "worker, unknown database", args: ["worker", "--health-port", "0"], env: { DATABASE_URL: urls[0]!.url } },
      { ...urls[1]!, label: "migrate --database-url", args: ["migrate", "--database-url", urls[1]!.url], env: {} },
      {
        ...urls[2]!,
        label: "serve --database-url",
        args: ["serve", "--port", "0", "--database-url", urls[2]!.url],
        env: { TASKER_API_TOKEN: TOKEN }
      }
    ]
    const results: Array<Finished> = []
    // three at a time: each is a Node process on a shared 2-core machine
    for (let i = 0; i < runs.length; i += 3) {
      results.push(...await Promise.all(runs.slice(i, i + 3).map((r) => run(r.args, { env: { ...r.env, LOG_LEVEL: "debug" } }))))
    }
    results.forEach((result, i) => {
      const r = runs[i]!
      expect(result.code, `${r.label}: ${result.stderr}`).toBe(1)
      const line = result.stderr.split("\n").find((l) => l.startsWith("tasker: "))
      expect(line, `${r.label}: ${result.stderr}`).toMatch(r.cause)
      expectNoSecret(result.stdout + result.stderr, secretForms(r.url), r.label)
    })
  }, 240_000)
})
