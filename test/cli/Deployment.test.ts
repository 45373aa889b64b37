/**
 * The documented ways of running `tasker serve` in production (docs/deployment.md) stop cleanly on a supervisor's
 * signal: the process exits 0 within a few seconds of SIGTERM (or SIGINT), its port no longer answers, and the
 * embedded data directory's lock is released.
 *
 * - `node src/cli/main.ts serve`, as the systemd unit's `ExecStart` runs it;
 * - the `Dockerfile`, checked (a `node:24` base, `CMD` in exec form running node itself, no npm or shell wrapper,
 *   every copied path in the build context) and then played without Docker: the files its `COPY` lines copy are
 *   copied into a temporary directory, and its `CMD` runs there with its `ENV` (the `/data` volume and the port
 *   replaced by temporary ones), the repository's `node_modules` standing in for `npm ci --omit=dev`;
 * - `npm start`: SIGTERM to npm's PID alone (what a supervisor that knows only npm sends) reaches the server, which
 *   exits 0, and npm with it. Its script `exec`s node: without that, npm passes the signal to the `sh -c` it runs
 *   the script in, the shell dies, and node is left running (measured with npm 11 and dash; docs/deployment.md).
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { postLinearTask, root, type Running, start, startCommand } from "./Support.ts"

const temps: Array<string> = []
const running: Array<Running> = []
/** processes started under npm, killed at the end should one outlive npm */
const strays: Array<number> = []

const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  temps.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(running.filter((r) => r.child.exitCode === null && r.child.signalCode === null).map((r) => r.stop("SIGKILL")))
  for (const pid of strays) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone, as it should be
    }
  }
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

const track = (r: Running) => {
  running.push(r)
  return r
}

/** The processes below `pid` (Linux `pgrep`), to clean up should one outlive its parent. */
const descendants = (pid: number): ReadonlyArray<number> => {
  const out = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout ?? ""
  const children = out.split("\n").filter((l) => l.trim() !== "").map(Number)
  return children.flatMap((child) => [child, ...descendants(child)])
}

const urlOf = async (server: Running) => (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 180_000))[1]!

/** Whether anything answers HTTP at `url`. */
const answers = (url: string) =>
  fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(() => true, () => false)

/** Sends `signal` and checks the exit: code 0 within `withinMs`, and the port closed. */
const expectCleanStop = async (server: Running, url: string, signal: NodeJS.Signals, withinMs = 10_000) => {
  const sent = Date.now()
  const finished = await server.stop(signal)
  const took = Date.now() - sent
  expect(finished.signal, finished.stderr).toBeNull()
  expect(finished.code, finished.stderr).toBe(0)
  expect(took, `exited ${took} ms after ${signal}`).toBeLessThan(withinMs)
  expect(await answers(url)).toBe(false)
  return finished
}

describe("node src/cli/main.ts serve (the systemd unit's command)", () => {
  it("SIGTERM: exits 0 within seconds, the port closes and the data directory's lock is released", async () => {
    const dataDir = tempDir("tasker-deploy-")
    const server = track(start(["serve", "--port", "0", "--data-dir", dataDir], { timeout: 240_000 }))
    const url = await urlOf(server)
    expect(await answers(url)).toBe(true)
    expect(existsSync(join(dataDir, "tasker.lock"))).toBe(true)
    await expectCleanStop(server, url, "SIGTERM")
    expect(existsSync(join(dataDir, "tasker.lock"))).toBe(false)
  }, 240_000)

  it("SIGTERM while it is still starting: exits 0 and releases the data directory's lock", async () => {
    const dataDir = tempDir("tasker-deploy-")
    const server = track(start(["serve", "--port", "0", "--data-dir", dataDir], { timeout: 240_000 }))
    // the first log line comes before the database is opened
    for (let i = 0; i < 1200 && !server.stderr().includes("Using the embedded database"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(server.stderr()).toContain("Using the embedded database")
    const finished = await server.stop("SIGTERM")
    expect(finished.code, finished.stderr).toBe(0)
    expect(existsSync(join(dataDir, "tasker.lock"))).toBe(false)
  }, 240_000)

  it("SIGINT (Ctrl-C): exits 0 within seconds and the port closes", async () => {
    const server = track(start(["serve", "--port", "0"], { timeout: 240_000 }))
    await expectCleanStop(server, await urlOf(server), "SIGINT")
  }, 240_000)
})

// ---------------------------------------------------------------------------------------------------------------
// The Dockerfile
// ---------------------------------------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** The Dockerfile's instructions (comments dropped, continuation lines joined). */
const instructions = (text: string): ReadonlyArray<Instruction> => {
  const logical = text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ")
  return logical.split("\n").flatMap((line) => {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line)
    return m === null ? [] : [{ keyword: m[1]!.toUpperCase(), args: m[2]!.trim() }]
  })
}

/** `KEY=value KEY2=value2` (values without spaces or quotes, as this Dockerfile writes them). */
const envPairs = (args: string): Record<string, string> =>
  Object.fromEntries(args.split(/\s+/).filter((p) => p.includes("=")).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]))

describe("the Dockerfile", () => {
  const dockerfile = instructions(readFileSync(join(root, "Dockerfile"), "utf8"))
  const all = (keyword: string) => dockerfile.filter((i) => i.keyword === keyword)

  it("runs node itself, in exec form, on Node 24, with every copied path in the build context", () => {
    expect(all("FROM").map((i) => i.args)).toEqual([expect.stringMatching(/^node:24(-|$)/)])
    expect(all("ENTRYPOINT")).toEqual([])
    const cmd = all("CMD")
    expect(cmd).toHaveLength(1)
    // exec form: a JSON array, so no shell runs between the container's signals and node
    const argv = JSON.parse(cmd[0]!.args) as ReadonlyArray<string>
    expect(argv).toEqual(["node", "src/cli/main.ts", "serve"])
    expect(all("STOPSIGNAL").map((i) => i.args)).toEqual(["SIGTERM"])
    expect(all("USER").map((i) => i.args)).toEqual(["node"])

    const allowed = readFileSync(join(root, ".dockerignore"), "utf8").split("\n").filter((l) => l.startsWith("!"))
    for (const copy of all("COPY")) {
      const sources = copy.args.split(/\s+/).slice(0, -1)
      for (const source of sources) {
        expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true)
        const kept = allowed.some((a) => a === `!${source}` || a === `!${source}/`)
        expect(kept, `${source} is in the build context (.dockerignore)`).toBe(true)
      }
    }
  })

  it("its CMD, run on what its COPY lines copy, serves and stops on SIGTERM with exit code 0", async () => {
    const app = tempDir("tasker-image-")
    for (const copy of all("COPY")) {
      const parts = copy.args.split(/\s+/)
      const destination = parts.at(-1)!
      for (const source of parts.slice(0, -1)) {
        const target = destination.endsWith("/") ? join(app, destination, source) : join(app, destination)
        cpSync(join(root, source), target, { recursive: true })
      }
    }
    // `npm ci --omit=dev` of the image
    symlinkSync(join(root, "node_modules"), join(app, "node_modules"), "dir")
    const data = tempDir("tasker-volume-")
    const env = { ...Object.assign({}, ...all("ENV").map((i) => envPairs(i.args))) as Record<string, string> }
    expect(env).toMatchObject({ TASKER_EMBEDDED_DATA_DIR: "/data", TASKER_API_HOST: "0.0.0.0" })
    const [command, ...args] = JSON.parse(all("CMD")[0]!.args) as ReadonlyArray<string>
    expect(command).toBe("node")
    const server = track(startCommand(process.execPath, args, {
      cwd: app,
      env: { ...env, TASKER_EMBEDDED_DATA_DIR: data, TASKER_API_HOST: "127.0.0.1", TASKER_API_PORT: "0" },
      timeout: 240_000
    }))
    const url = await urlOf(server)
    expect(server.stderr()).toContain(`Using the embedded database in ${data}`)
    const created = await postLinearTask(url, 2)
    expect(created.status).toBe(201)
    await expectCleanStop(server, url, "SIGTERM")
    expect(existsSync(join(data, "tasker.lock"))).toBe(false)
  }, 240_000)
})

describe("npm start", () => {
  it("SIGTERM to npm alone stops the server: npm exits 0 within seconds and the port closes", async () => {
    const npm = track(startCommand("npm", ["start", "--", "--port", "0"], { timeout: 240_000 }))
    const url = await urlOf(npm)
    strays.push(...descendants(npm.child.pid!))
    npm.child.kill("SIGTERM")
    // npm's own exit (an orphaned server would keep its output pipes, and so its "close", open)
    const code = await Promise.race([
      new Promise<number | null>((resolve) => npm.child.once("exit", (c) => resolve(c))),
      new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 15_000))
    ])
    expect(code).toBe(0)
    expect(await answers(url), "the server outlived npm").toBe(false)
  }, 240_000)
})
