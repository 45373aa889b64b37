/**
 * Safe defaults of `tasker serve` (docs/security.md): the API listens on a non-loopback address only with a
 * credential — the bootstrap token or an API key — or an explicit `--allow-unauthenticated`; refused otherwise at
 * start-up (exit 2, one line naming the ways out). The banner says whether authentication is on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliOnMigratedDatabase, run } from "./Support.ts"

const cli = cliOnMigratedDatabase()

beforeAll(() => cli.setup(), 120_000)
afterAll(() => cli.teardown(), 60_000)

const BANNER = /tasker API: (http:\/\/127\.0\.0\.1:\d+)[^\n]*\nAuthentication: ([^\n]*)/

describe("tasker serve on a non-loopback address", () => {
  it("is refused without any credential, with one line naming the ways out", async () => {
    const refused = await run(["serve", "--roles", "api", "--host", "0.0.0.0", "--port", "0"], {
      env: { DATABASE_URL: cli.url() },
      timeout: 120_000
    })
    expect(refused.code).toBe(2)
    const line = refused.stderr.split("\n").find((l) => l.startsWith("tasker: "))!
    expect(line).toContain("refusing to serve the API on 0.0.0.0 without authentication")
    for (const way of ["TASKER_API_TOKEN", "tasker keys create", "--allow-unauthenticated"]) expect(line).toContain(way)
    expect(refused.stdout).not.toContain("tasker API:")
  }, 120_000)

  it("starts with --allow-unauthenticated (authentication off), a token or an API key (on), and says which", async () => {
    const open = cli.launch(["serve", "--roles", "api", "--host", "0.0.0.0", "--port", "0", "--allow-unauthenticated"])
    const openBanner = await open.waitForStdout(BANNER, 120_000)
    expect(openBanner[2]).toMatch(/^off /)
    expect((await fetch(`${openBanner[1]}/v1/tasks`)).status).toBe(200)
    await open.stop("SIGTERM")

    const token = cli.launch(["serve", "--roles", "api", "--host", "0.0.0.0", "--port", "0"], {
      TASKER_API_TOKEN: "a-token-of-enough-length"
    })
    const tokenBanner = await token.waitForStdout(BANNER, 120_000)
    expect(tokenBanner[2]).toBe("on (TASKER_API_TOKEN)")
    expect((await fetch(`${tokenBanner[1]}/v1/tasks`)).status).toBe(401)
    await token.stop("SIGTERM")

    const created = await run(["keys", "create", "--name", "only", "--scope", "tasks:read"], { env: { DATABASE_URL: cli.url() } })
    expect(created.code, created.stderr).toBe(0)
    const keyed = cli.launch(["serve", "--roles", "api", "--host", "0.0.0.0", "--port", "0"])
    const keyBanner = await keyed.waitForStdout(BANNER, 120_000)
    expect(keyBanner[2]).toBe("on (API keys)")
    expect((await fetch(`${keyBanner[1]}/v1/tasks`)).status).toBe(401)
    const key = JSON.parse(created.stdout).key as string
    expect((await fetch(`${keyBanner[1]}/v1/tasks`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
    await keyed.stop("SIGTERM")
  }, 240_000)
})
