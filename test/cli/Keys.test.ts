/**
 * `tasker keys create|list|revoke` on a real PostgreSQL database, with a real `tasker serve` on it: the created key
 * (printed once) authenticates with its scopes, `keys list` never prints a secret, `keys revoke` turns the key into
 * 401s at once, bad input exits 2 with one line, and the changes are in the audit trail (key id `cli`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliOnMigratedDatabase, run } from "./Support.ts"

const cli = cliOnMigratedDatabase()
let api = ""

beforeAll(async () => {
  await cli.setup()
  const server = cli.launch(["serve", "--roles", "api", "--port", "0"])
  api = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
}, 180_000)

afterAll(() => cli.teardown(), 60_000)

const keys = (args: ReadonlyArray<string>) => run(["keys", ...args], { env: { DATABASE_URL: cli.url() } })

const get = (path: string, key?: string) =>
  fetch(`${api}${path}`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } })

describe("tasker keys", () => {
  it("creates a key shown once, lists keys without secrets, revokes a key", async () => {
    // without any key the API is open (loopback, no token)
    expect((await get("/v1/tasks")).status).toBe(200)

    const created = await keys(["create", "--name", "reader", "--scope", "tasks:read", "--namespace", "test_errors"])
    expect(created.code, created.stderr).toBe(0)
    const key = JSON.parse(created.stdout)
    expect(key).toMatchObject({ name: "reader", scopes: ["tasks:read"], namespaces: ["test_errors"], revoked_at: null })
    expect(key.key).toMatch(new RegExp(`^tk_${key.key_id}_[A-Za-z0-9_-]{43}$`))
    expect(created.stderr).not.toContain(key.key)

    // a key exists: authentication is on (within a second), and the key has exactly its scope
    await new Promise((r) => setTimeout(r, 1100))
    expect((await get("/v1/tasks")).status).toBe(401)
    expect((await get("/v1/tasks", key.key)).status).toBe(200)
    const forbidden = await fetch(`${api}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
      body: JSON.stringify({ namespace: "test_errors", name: "success_only", version: "1.0.0", context: {} })
    })
    expect(forbidden.status).toBe(403)
    expect(((await forbidden.json()) as any).error).toMatchObject({ code: "FORBIDDEN", field: "scope" })

    const admin = JSON.parse((await keys(["create", "--name", "ops", "--scope", "admin"])).stdout)
    const listed = await keys(["list"])
    expect(listed.code, listed.stderr).toBe(0)
    const rows = JSON.parse(listed.stdout)
    expect(rows.map((r: { key_id: string }) => r.key_id).sort()).toEqual([key.key_id, admin.key_id].sort())
    expect(listed.stdout).not.toContain(key.key.split("_").slice(2).join("_"))
    expect(listed.stdout).not.toContain("tk_")
    expect(rows.find((r: { key_id: string }) => r.key_id === key.key_id).last_used_at).not.toBeNull()

    const revoked = await keys(["revoke", key.key_id])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(JSON.parse(revoked.stdout).revoked_at).not.toBeNull()
    expect((await get("/v1/tasks", key.key)).status).toBe(401)
    // revoking the last reader does not open the API again
    expect((await get("/v1/tasks")).status).toBe(401)

    const audit: any = await (await get("/v1/audit?key_id=cli", admin.key)).json()
    expect(audit.entries.map((e: { action: string }) => e.action)).toEqual(["key.revoke", "key.create", "key.create"])
    expect(JSON.stringify(audit)).not.toContain(key.key)
  }, 120_000)

  it("refuses bad input with one line and exit code 2", async () => {
    const again = await keys(["revoke", "0123456789abcdef"])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain("no unrevoked API key with id \"0123456789abcdef\"")
    const scope = await keys(["create", "--name", "x", "--scope", "root"])
    expect(scope.code).toBe(2)
    expect(scope.stderr).toContain("--scope")
    const noScope = await keys(["create", "--name", "x"])
    expect(noScope.code).toBe(2)
    const noName = await keys(["create", "--scope", "admin"])
    expect(noName.code).toBe(2)
    expect(noName.stderr).toContain("--name")
  }, 60_000)
})
