/**
 * Runs the real `tasker` CLI (`node src/cli/main.ts …`) as a child process with the Node that runs the tests, and
 * gives fresh PostgreSQL databases to the tests that need one.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import { expect } from "vitest"
import { freshDatabase } from "../support/TestDatabase.ts"

export const root = fileURLToPath(new URL("../../", import.meta.url))
const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/** The parent's environment without the variables the CLI reads, so each test chooses its own. */
const baseEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name === "DATABASE_URL" || name.startsWith("TASKER_") || name.startsWith("OTEL_") || name.startsWith("LOG_")) {
      delete env[name]
    }
  }
  return env
}

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>
  /** ms before the child is killed (default 60 s) */
  readonly timeout?: number
  /**
   * Runs the child in its own process group, and signals go to the whole group (for wrappers such as `npm run`,
   * which do not pass every signal on to the command they run).
   */
  readonly processGroup?: boolean
  /** the working directory (default: the project's root) */
  readonly cwd?: string
  /** run the child as this user ID (needs root) */
  readonly uid?: number
}

/** A running CLI process. */
export interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** resolves with the first match of `pattern` in stdout (rejects after `timeout` ms, or when the process exits) */
  readonly waitForStdout: (pattern: RegExp, timeout?: number) => Promise<RegExpMatchArray>
  /** resolves when the process exits */
  readonly exited: Promise<Finished>
  /** sends `signal` and waits for the exit */
  readonly stop: (signal?: NodeJS.Signals) => Promise<Finished>
}

/** Starts `node src/cli/main.ts ...args`. */
export const start = (args: ReadonlyArray<string>, options: RunOptions = {}): Running =>
  startCommand(process.execPath, [main, ...args], options)

/**
 * Starts `command ...args` in the project's root (or `options.cwd`), e.g. `npm start`, with the CLI's variables
 * cleared.
 */
export const startCommand = (command: string, args: ReadonlyArray<string>, options: RunOptions = {}): Running => {
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    env: { ...baseEnv(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.processGroup ?? false,
    ...(options.uid === undefined ? {} : { uid: options.uid })
  })
  const signal = (name: NodeJS.Signals) => {
    if (options.processGroup === true && child.pid !== undefined) {
      try {
        process.kill(-child.pid, name)
      } catch {
        // the group is gone already
      }
    } else {
      child.kill(name)
    }
  }
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const killer = setTimeout(() => signal("SIGKILL"), options.timeout ?? 60_000)
  const exited = new Promise<Finished>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  const waitForStdout = (pattern: RegExp, timeout = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const deadline = Date.now() + timeout
      const check = () => {
        const match = stdout.match(pattern)
        if (match !== null) return resolve(match)
        if (child.exitCode !== null || child.signalCode !== null) {
          return reject(new Error(`process exited before ${pattern} appeared\nstdout:\n${stdout}\nstderr:\n${stderr}`))
        }
        if (Date.now() > deadline) {
          return reject(new Error(`${pattern} did not appear in ${timeout} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
        }
        setTimeout(check, 50)
      }
      check()
    })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout,
    exited,
    stop: (name = "SIGTERM") => {
      signal(name)
      return exited
    }
  }
}

/** Runs `node src/cli/main.ts ...args` to its end. */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Finished> =>
  start(args, options).exited

/** The parsed log lines of a JSON-logging run (stderr); other lines are skipped. */
export const logLines = (stderr: string): ReadonlyArray<{ readonly message?: string; readonly level?: string }> =>
  stderr.split("\n").flatMap((line) => {
    try {
      const value = JSON.parse(line) as unknown
      return typeof value === "object" && value !== null ? [value as { message?: string }] : []
    } catch {
      return []
    }
  })

/** Fresh PostgreSQL databases, dropped by `release`. */
export const databases = () => {
  const scope = Effect.runSync(Scope.make())
  return {
    /** a new empty database's URL */
    create: () => Effect.runPromise(freshDatabase.pipe(Effect.map(({ url }) => url), Scope.provide(scope))),
    release: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** A loopback port that was free a moment ago (nothing listens on it). */
export const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** `POST /v1/tasks` for a task of the linear example (`even_number`), as a client would send it. */
export const postLinearTask = (url: string, evenNumber: number) =>
  fetch(`${url}/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      namespace: "rust_e2e_linear",
      name: "mathematical_sequence",
      version: "1.0.0",
      context: { even_number: evenNumber }
    })
  })

/** CLI processes started with `start`, all killed by `killAll` (a file's `afterAll`). */
export const trackedProcesses = () => {
  const processes: Array<Running> = []
  return {
    start: (args: ReadonlyArray<string>, options: RunOptions = {}): Running => {
      const p = start(args, options)
      processes.push(p)
      return p
    },
    killAll: () => Promise.all(processes.filter((p) => p.child.exitCode === null).map((p) => p.stop("SIGKILL")))
  }
}

/** A run that must be refused with one line. */
export interface RefusedCase {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** what the one `tasker: …` line on stderr must contain */
  readonly mentions: ReadonlyArray<string>
}

/** Runs every case at once; each must exit 2 with exactly one `tasker: …` line on stderr and nothing on stdout. */
export const expectRefusedWithOneLine = async (cases: ReadonlyArray<RefusedCase>, env: Record<string, string> = {}) => {
  const results = await Promise.all(cases.map((c) => run(c.args, { env: { ...env, ...c.env } })))
  results.forEach((result, i) => {
    const c = cases[i]!
    expect(result.code, `${c.name}: ${result.stderr}`).toBe(2)
    const lines = result.stderr.split("\n").filter((l) => l.startsWith("tasker: "))
    expect(lines, `${c.name}: ${result.stderr}`).toHaveLength(1)
    for (const m of c.mentions) expect(lines[0], c.name).toContain(m)
    expect(result.stdout, c.name).toBe("")
  })
  return results
}

/**
 * For a test file whose CLI processes share one database: `setup` (beforeAll) creates and migrates it, `launch`
 * starts `tasker …` on it (tracked), `teardown` (afterAll) kills what is left and drops the database.
 */
export const cliOnMigratedDatabase = () => {
  const db = databases()
  const processes = trackedProcesses()
  let url = ""
  return {
    url: () => url,
    setup: async () => {
      url = await db.create()
      const migrated = await run(["migrate"], { env: { DATABASE_URL: url } })
      expect(migrated.code, migrated.stderr).toBe(0)
    },
    launch: (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      processes.start(args, { env: { DATABASE_URL: url, ...env }, timeout: 120_000 }),
    teardown: async () => {
      await processes.killAll()
      await db.release()
    }
  }
}
