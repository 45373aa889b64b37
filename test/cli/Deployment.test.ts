/**
 * The documented ways of running `tasker serve` in production (docs/deployment.md) stop cleanly on a supervisor's
 * signal: the process exits 0 within a few seconds of SIGTERM (or SIGINT), its port no longer answers, and the
 * embedded data directory's lock is released.
 *
 * - `node src/cli/main.ts serve`, as the systemd unit's `ExecStart` runs it;
 * - the `Dockerfile`, checked (`node:24` bases, `CMD` in exec form running node itself, no npm or shell wrapper,
 *   every copied path in the build context, the dashboard built in a stage of its own whose `dist/ui` alone is
 *   copied into the image) and then played without Docker: its dashboard stage's files are copied into a
 *   temporary directory and its build run there; the files the image's `COPY` lines copy (the built dashboard
 *   included) are copied into another, and its `CMD` runs there with its `ENV` (the `/data` volume and the port
 *   replaced by temporary ones), serving the API and the dashboard; the repository's `node_modules` stands in for
 *   `npm ci`;
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

/** The Dockerfile's build stages: each `FROM` (its image and `AS` name) with the instructions after it. */
interface Stage {
  readonly image: string
  readonly name: string | undefined
  readonly instructions: ReadonlyArray<Instruction>
}

const stagesOf = (all: ReadonlyArray<Instruction>): ReadonlyArray<Stage> => {
  const stages: Array<{ image: string; name: string | undefined; instructions: Array<Instruction> }> = []
  for (const i of all) {
    if (i.keyword === "FROM") {
      const [image, as, name] = i.args.split(/\s+/)
      stages.push({ image: image!, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(i)
    }
  }
  return stages
}

/** A `COPY [--from=stage] source… destination` line. */
const copyOf = (args: string) => {
  const parts = args.split(/\s+/)
  const from = parts[0]!.startsWith("--from=") ? parts.shift()!.slice("--from=".length) : undefined
  return { from, sources: parts.slice(0, -1), destination: parts.at(-1)! }
}

describe("the Dockerfile", () => {
  const stages = stagesOf(instructions(readFileSync(join(root, "Dockerfile"), "utf8")))
  const image = stages.at(-1)!
  const dashboard = stages.find((s) => s.name === "dashboard")
  const all = (keyword: string, stage: Stage = image) => stage.instructions.filter((i) => i.keyword === keyword)

  it("runs node itself, in exec form, on Node 24, with every copied path in the build context", () => {
    expect(stages.map((s) => s.image)).toEqual([expect.stringMatching(/^node:24(-|$)/), expect.stringMatching(/^node:24(-|$)/)])
    expect(all("ENTRYPOINT")).toEqual([])
    const cmd = all("CMD")
    expect(cmd).toHaveLength(1)
    // exec form: a JSON array, so no shell runs between the container's signals and node
    const argv = JSON.parse(cmd[0]!.args) as ReadonlyArray<string>
    expect(argv).toEqual(["node", "src/cli/main.ts", "serve"])
    expect(all("STOPSIGNAL").map((i) => i.args)).toEqual(["SIGTERM"])
    expect(all("USER").map((i) => i.args)).toEqual(["node"])

    const allowed = readFileSync(join(root, ".dockerignore"), "utf8").split("\n").filter((l) => l.startsWith("!"))
    for (const stage of stages) {
      for (const copy of all("COPY", stage).map((i) => copyOf(i.args)).filter((c) => c.from === undefined)) {
        for (const source of copy.sources) {
          expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true)
          const kept = allowed.some((a) => a === `!${source}` || a === `!${source}/`)
          expect(kept, `${source} is in the build context (.dockerignore)`).toBe(true)
        }
      }
    }
  })

  it("builds the dashboard in a stage of its own and copies only its files into the image", () => {
    expect(dashboard, "a stage named dashboard").toBeDefined()
    const runs = all("RUN", dashboard).map((i) => i.args)
    // what `npm run build:ui` runs (the production build, ui/build.ts)
    const buildUi = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> })
      .scripts["build:ui"]!
    expect(runs.some((r) => r.includes(buildUi))).toBe(true)
    // the development dependencies stay in the build stage
    expect(all("RUN").map((i) => i.args)).toContainEqual(expect.stringContaining("npm ci --omit=dev"))
    const fromDashboard = all("COPY").map((i) => copyOf(i.args)).filter((c) => c.from !== undefined)
    expect(fromDashboard).toEqual([{ from: "dashboard", sources: ["/build/dist/ui"], destination: "./dist/ui" }])
  })

  it("played without Docker — its dashboard stage built, its CMD run on what its COPY lines copy — serves the API and the dashboard, and stops on SIGTERM with exit code 0", async () => {
    /**
     * Plays a stage's COPY lines into `dir` (its WORKDIR), from the build context or from an earlier stage's
     * directory; the repository's `node_modules` stands in for the stage's `npm ci`.
     */
    const played = new Map<string, { readonly dir: string; readonly workdir: string }>()
    const play = (stage: Stage, dir: string) => {
      const workdir = all("WORKDIR", stage).at(-1)!.args
      for (const copy of all("COPY", stage).map((i) => copyOf(i.args))) {
        const base = copy.from === undefined ? root : played.get(copy.from)!.dir
        for (const source of copy.sources) {
          const from = copy.from === undefined ? join(base, source) : join(base, source.slice(played.get(copy.from)!.workdir.length))
          const target = copy.destination.endsWith("/") ? join(dir, copy.destination, source) : join(dir, copy.destination)
          cpSync(from, target, { recursive: true })
        }
      }
      symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir")
      if (stage.name !== undefined) played.set(stage.name, { dir, workdir })
    }

    // the dashboard stage: its RUN lines other than `npm ci`, in its directory
    const build = tempDir("tasker-image-build-")
    play(dashboard!, build)
    for (const run of all("RUN", dashboard).map((i) => i.args).filter((r) => !r.startsWith("npm ci"))) {
      const result = spawnSync("sh", ["-c", run], { cwd: build, encoding: "utf8", timeout: 180_000 })
      expect(result.status, `${run}\n${result.stdout}\n${result.stderr}`).toBe(0)
    }
    expect(existsSync(join(build, "dist/ui/index.html"))).toBe(true)

    const app = tempDir("tasker-image-")
    play(image, app)
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
    // the dashboard the stage built: its page and the script it loads
    const page = await fetch(`${url}/ui/`)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('<div id="root">')
    const script = /<script type="module" crossorigin src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script, html).toBeDefined()
    const asset = await fetch(`${url}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get("content-type")).toContain("javascript")
    await expectCleanStop(server, url, "SIGTERM")
    expect(existsSync(join(data, "tasker.lock"))).toBe(false)
  }, 300_000)
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
