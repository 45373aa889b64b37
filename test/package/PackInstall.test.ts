/**
 * The package as an application gets it: `npm pack` (which builds `dist/` through `prepare`), the tarball
 * installed into a fresh directory outside the repository with its own package.json, and there:
 * - the application (`app/main.ts`, `app/client.ts`, and the README's program as `app.ts`) type-checks against
 *   the installed declaration files, including a `dependsOn` on an unknown step failing to compile;
 * - the README's program runs as the README says (`node app.ts`, and with `DATABASE_URL`), and so do
 *   docs/package.md's server and docs/workflows.md's complete example;
 * - it runs a workflow whose Effect handler uses an application service, on the embedded database and on
 *   PostgreSQL;
 * - `npx tasker demo` runs the example workflows from the installed bin;
 * - the installed bin (`node_modules/.bin/tasker serve`) answers the typed client of `tasker-effect/client`, and
 *   stops on SIGTERM with exit code 0;
 * - nothing but the documented import paths resolves.
 */
import { execFile, spawn } from "node:child_process"
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { closedPort, databases } from "../cli/Support.ts"

const exec = promisify(execFile)
const repository = fileURLToPath(new URL("../../", import.meta.url))
const fixture = fileURLToPath(new URL("./app/", import.meta.url))
const manifest = JSON.parse(readFileSync(join(repository, "package.json"), "utf8")) as {
  readonly version: string
  readonly peerDependencies: Record<string, string>
  readonly dependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
}
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
/** npm and the programs run on the Node that runs the tests (24, pinned by the repository) */
const nodeDir = dirname(process.execPath)

const work = mkdtempSync(join(tmpdir(), "tasker-pack-"))
const app = join(work, "app")
const db = databases()

/** the environment of the application: no repository variables, the pinned Node first on PATH */
const appEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (name === "DATABASE_URL" || name.startsWith("TASKER_") || name.startsWith("npm_") || name.startsWith("OTEL_")) continue
    env[name] = value
  }
  return { ...env, PATH: `${nodeDir}:${process.env.PATH ?? ""}`, ...extra }
}

const run = (command: string, args: ReadonlyArray<string>, options: { env?: Record<string, string>; timeout?: number } = {}) =>
  exec(command, [...args], {
    cwd: app,
    env: appEnv(options.env),
    timeout: options.timeout ?? 180_000,
    maxBuffer: 64 * 1024 * 1024
  })

beforeAll(async () => {
  // the tarball, built from this checkout
  const packed = await exec("npm", ["pack", "--pack-destination", work, "--json"], {
    cwd: repository,
    env: appEnv(),
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024
  })
  const [{ filename }] = JSON.parse(packed.stdout) as Array<{ readonly filename: string }>
  cpSync(fixture, app, { recursive: true })
  // the program of the README's "Use it in your application", as an application would save it
  const readme = readFileSync(join(repository, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Use it in your application"))
  expect(/```sh\n(.*)\n```/.exec(section)?.[1]).toBe("npm install tasker-effect effect @effect/platform-node")
  writeFileSync(join(app, "app.ts"), /```ts\n([\s\S]*?)```/.exec(section)![1]!)
  // and docs/package.md's server
  const packageDoc = readFileSync(join(repository, "docs", "package.md"), "utf8")
  const serving = packageDoc.slice(packageDoc.indexOf("### Serving the HTTP API from an application"))
  writeFileSync(join(app, "server.ts"), /```ts\n([\s\S]*?)```/.exec(serving)![1]!)
  // and docs/workflows.md's complete example
  const workflowsDoc = readFileSync(join(repository, "docs", "workflows.md"), "utf8")
  const complete = workflowsDoc.slice(workflowsDoc.indexOf("## A complete example"))
  writeFileSync(join(app, "price-order.ts"), /```ts\n([\s\S]*?)```/.exec(complete)![1]!)
  writeFileSync(join(app, "package.json"), JSON.stringify({
    name: "tasker-app",
    private: true,
    type: "module",
    dependencies: {
      "tasker-effect": `file:${join(work, filename!)}`,
      effect: manifest.peerDependencies["effect"],
      "@effect/platform-node": manifest.dependencies["@effect/platform-node"],
      "@types/node": manifest.devDependencies["@types/node"]
    }
  }, null, 2))
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { timeout: 300_000 })
}, 600_000)

afterAll(async () => {
  await db.release()
  rmSync(work, { recursive: true, force: true })
}, 60_000)

describe("the installed package", () => {
  it("ships the build, the migrations and the bin, not the sources or the tests", () => {
    const installed = join(app, "node_modules", "tasker-effect")
    const top = readdirSync(installed).sort()
    expect(top).toEqual(["LICENSE", "README.md", "dist", "package.json"])
    expect(readdirSync(join(installed, "dist", "migrations")).filter((f) => f.endsWith(".sql")).length).toBeGreaterThan(0)
    // one copy of Effect, the application's
    expect(readdirSync(join(installed))).not.toContain("node_modules")
  })

  it("type-checks an application against its declaration files", async () => {
    const { stdout } = await run(process.execPath, [tsc, "-p", "tsconfig.json"]).catch((error: { stdout?: string }) => {
      throw new Error(`tsc failed:\n${error.stdout}`)
    })
    expect(stdout).toBe("")
  }, 180_000)

  it("a dependsOn naming an unknown step fails to compile in the application", async () => {
    writeFileSync(join(app, "typo.ts"), [
      `import { Effect } from "effect"`,
      `import { Workflow } from "tasker-effect"`,
      `export const W = Workflow.make({ namespace: "a", name: "b", version: "1" })`,
      `  .step("first", { run: () => Effect.succeed(1) })`,
      `  .step("second", { dependsOn: ["frist"], run: () => Effect.succeed(2) })`
    ].join("\n"))
    try {
      const failure = await run(process.execPath, [tsc, "-p", "tsconfig.json"]).then(() => undefined, (error: { stdout?: string }) => error.stdout)
      expect(failure).toMatch(/typo\.ts\(5,\d+\): error TS2322: Type '"frist"' is not assignable to type '"first"'/)
    } finally {
      rmSync(join(app, "typo.ts"))
    }
  }, 180_000)

  it("runs the README's program on the embedded database and on PostgreSQL", async () => {
    const expectations = (out: string) => {
      expect(out).toMatch(/task [0-9a-f-]+: complete/)
      expect(out).toContain(`confirm: "confirmed reservation-BOOK-1-2"`)
    }
    expectations((await run(process.execPath, ["app.ts"])).stdout)
    expectations((await run(process.execPath, ["app.ts"], { env: { DATABASE_URL: await db.create() } })).stdout)
  }, 180_000)

  it("runs docs/workflows.md's complete example on PostgreSQL, twice (the second run finds the same task)", async () => {
    const env = { DATABASE_URL: await db.create() }
    const first = (await run(process.execPath, ["price-order.ts"], { env })).stdout
    expect(first).toMatch(/task [0-9a-f-]+ \(new: true\) is complete/)
    expect(first).toContain(`total: {"order_id":"A-1001","total_cents":6477}`)
    expect((await run(process.execPath, ["price-order.ts"], { env })).stdout).toMatch(/\(new: false\) is complete/)
  }, 180_000)

  it("runs a workflow with an application service on the embedded database", async () => {
    const { stdout } = await run(process.execPath, ["main.ts", "embedded"], { env: { LOG_LEVEL: "warn" } })
    expect(JSON.parse(stdout.trim())).toEqual({ status: "complete", results: { price: 40, total: 120 } })
  }, 120_000)

  it("runs the same workflow on PostgreSQL", async () => {
    const url = await db.create()
    const { stdout } = await run(process.execPath, ["main.ts", "postgres"], { env: { DATABASE_URL: url, LOG_LEVEL: "warn" } })
    expect(JSON.parse(stdout.trim())).toEqual({ status: "complete", results: { price: 40, total: 120 } })
  }, 120_000)

  it("npx tasker demo runs the examples from the installed bin", async () => {
    const { stdout } = await run("npx", ["--no-install", "tasker", "demo", "--workflow", "linear", "--json"])
    expect(JSON.parse(stdout.trim())).toMatchObject({ namespace: "rust_e2e_linear", status: "complete" })
  }, 120_000)

  it("the installed bin serves the typed client, and stops on SIGTERM (exit 0, port closed)", async () => {
    const port = await closedPort()
    // as docs/deployment.md says to supervise it: the bin itself (its shebang execs node), no npm or npx between
    const server = spawn(join(app, "node_modules", ".bin", "tasker"), ["serve"], {
      cwd: app,
      env: appEnv({ TASKER_API_PORT: String(port) }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    server.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    server.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    const exited = new Promise<number | null>((resolve) => server.on("close", resolve))
    const base = `http://127.0.0.1:${port}`
    try {
      const deadline = Date.now() + 120_000
      while (!output.includes(base)) {
        if (Date.now() > deadline || server.exitCode !== null) throw new Error(`the server did not start:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const { stdout } = await run(process.execPath, ["client.ts"], { env: { TASKER_URL: base } })
      expect(JSON.parse(stdout.trim())).toMatchObject({ status: "complete" })
    } finally {
      server.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
    await expect(fetch(`${base}/health`)).rejects.toThrow()
  }, 180_000)

  it("docs/package.md's server serves the API and runs the tasks it creates", async () => {
    const port = await closedPort()
    const server = spawn(process.execPath, ["server.ts"], { cwd: app, env: appEnv({ PORT: String(port), LOG_LEVEL: "warn" }), stdio: "ignore" })
    const exited = new Promise<number | null>((resolve) => server.on("close", resolve))
    try {
      const base = `http://127.0.0.1:${port}`
      const deadline = Date.now() + 60_000
      for (;;) {
        const up = await fetch(`${base}/health`).then((r) => r.ok, () => false)
        if (up) break
        if (Date.now() > deadline || server.exitCode !== null) throw new Error("the server did not start")
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      const created = await fetch(`${base}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ namespace: "demo", name: "greeting", version: "1.0.0", context: { name: "Ada" } })
      }).then((r) => r.json() as Promise<{ task_uuid: string }>)
      let status = ""
      while (status !== "complete" && Date.now() < deadline) {
        status = (await fetch(`${base}/v1/tasks/${created.task_uuid}`).then((r) => r.json() as Promise<{ status: string }>)).status
        if (status !== "complete") await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(status).toBe("complete")
    } finally {
      server.kill("SIGTERM")
      await exited
    }
  }, 120_000)

  it("resolves only the documented import paths", async () => {
    const { stdout } = await run(process.execPath, ["internal.ts"])
    const codes = stdout.trim().split("\n").map((line) => (JSON.parse(line) as { code: string }).code)
    expect(codes).toEqual(["ERR_PACKAGE_PATH_NOT_EXPORTED", "ERR_PACKAGE_PATH_NOT_EXPORTED", "ERR_PACKAGE_PATH_NOT_EXPORTED"])
    for (const entry of ["tasker-effect", "tasker-effect/postgres", "tasker-effect/embedded", "tasker-effect/telemetry", "tasker-effect/server", "tasker-effect/client"]) {
      const loaded = await run(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(entry)}); console.log(Object.keys(m).length)`])
      expect(Number(loaded.stdout.trim()), entry).toBeGreaterThan(0)
    }
  }, 120_000)
})
