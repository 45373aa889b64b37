/**
 * A private PostgreSQL server for one test file: `initdb` into a temporary directory, `pg_ctl start` on a free
 * loopback port with trust authentication, and `stop` (which also removes the directory). A test may restart it
 * (`restart`), which it must never do to the shared server at `TEST_DATABASE_URL`.
 *
 * The binaries are those of the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), or of
 * `TASKER_PG_BIN` when set, or `initdb` on `PATH`. `initdb` refuses to run as root, so when the test runs as root
 * every server command runs as the `postgres` OS user (`runuser -u postgres --`) on a directory it owns.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { closedPort } from "../cli/Support.ts"

export interface PrivatePostgres {
  /** the server's version directory, e.g. `/usr/lib/postgresql/15/bin` */
  readonly bin: string
  readonly port: number
  /** `postgres://root@127.0.0.1:<port>/<database>` */
  readonly url: (database: string) => string
  /** creates a database owned by the superuser `root` */
  readonly createDatabase: (name: string) => void
  /**
   * `pg_ctl stop -m <mode>`, `downMs` without a server, then `pg_ctl start`, waiting until the server accepts
   * connections again. `immediate` is a crash as far as the data goes (no checkpoint, recovery from the WAL;
   * asynchronous commits not yet written are lost); `fast` is a clean shutdown. Resolves with the times the
   * server stopped and was up again (epoch ms).
   */
  readonly restart: (mode: "fast" | "immediate", downMs: number) => Promise<{ readonly down: number; readonly up: number }>
  /** the server's log (for failure messages) */
  readonly log: () => string
  /** stops the server (immediately) and removes its directory; safe to call twice */
  readonly stop: () => void
  /** leaves the server running after the test (for a post-mortem); its directory, to stop it by hand */
  readonly keep: () => string
}

/** The directory of the PostgreSQL server binaries, or undefined when none is installed. */
export const findPostgresBin = (): string | undefined => {
  const fromEnv = process.env["TASKER_PG_BIN"]
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(join(fromEnv, "initdb")) ? fromEnv : undefined
  const base = "/usr/lib/postgresql"
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, "bin", "initdb")))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    if (versions.length > 0) return join(base, versions[0]!, "bin")
  }
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" })
  const path = which.stdout.trim()
  return which.status === 0 && path !== "" ? path.replace(/\/initdb$/, "") : undefined
}

/** The uid and gid of OS user `name`. */
const idsOf = (name: string) => ({
  uid: Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim()),
  gid: Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim())
})

/**
 * Starts a private server; undefined (with the reason) when no PostgreSQL binaries are installed, so the caller
 * can skip with a clear message.
 */
export const startPrivatePostgres = async (): Promise<PrivatePostgres | { readonly skipped: string }> => {
  const bin = findPostgresBin()
  if (bin === undefined) {
    return { skipped: "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin, TASKER_PG_BIN or PATH" }
  }
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), "tasker-private-pg-"))
  if (asRoot) {
    const { gid, uid } = idsOf("postgres")
    chownSync(dir, uid, gid)
  }
  const data = join(dir, "data")
  const logFile = join(dir, "server.log")
  /** runs a server tool (as `postgres` when we are root); throws with its output when it fails */
  const tool = (name: string, args: ReadonlyArray<string>) => {
    const [command, argv] = asRoot
      ? ["runuser", ["-u", "postgres", "--", join(bin, name), ...args]]
      : [join(bin, name), [...args]]
    const result = spawnSync(command, argv, { encoding: "utf8", cwd: dir, timeout: 120_000 })
    if (result.status !== 0) {
      throw new Error(`${name} ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`)
    }
    return result.stdout
  }
  /** the same, without blocking the event loop */
  const toolAsync = (name: string, args: ReadonlyArray<string>) =>
    new Promise<void>((resolve, reject) => {
      const [command, argv] = asRoot
        ? ["runuser", ["-u", "postgres", "--", join(bin, name), ...args]]
        : [join(bin, name), [...args]]
      execFile(command, argv, { cwd: dir, timeout: 120_000 }, (error, stdout, stderr) =>
        error === null ? resolve() : reject(new Error(`${name} ${args.join(" ")} failed: ${error.message} ${stderr}${stdout}`)))
    })
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    process.off("exit", stop)
    try {
      if (existsSync(join(data, "postmaster.pid"))) tool("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"])
    } catch {
      // already down
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // the server must not outlive the test run, even when the runner exits without running afterAll
  process.on("exit", stop)
  try {
    tool("initdb", ["-D", data, "-U", "root", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    const port = await closedPort()
    const options = [
      `-c port=${port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${dir}`,
      "-c max_connections=200",
      "-c shared_buffers=64MB"
    ].join(" ")
    tool("pg_ctl", ["start", "-D", data, "-l", logFile, "-o", options, "-w", "-t", "60"])
    const url = (database: string) => `postgres://root@127.0.0.1:${port}/${database}`
    return {
      bin,
      port,
      url,
      createDatabase: (name) => {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`)
        tool("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "root", "-d", "postgres", "-qc", `CREATE DATABASE ${name}`])
      },
      restart: async (mode, downMs) => {
        const down = Date.now()
        await toolAsync("pg_ctl", ["stop", "-D", data, "-m", mode, "-w", "-t", "60"])
        await new Promise((r) => setTimeout(r, downMs))
        await toolAsync("pg_ctl", ["start", "-D", data, "-l", logFile, "-o", options, "-w", "-t", "60"])
        return { down, up: Date.now() }
      },
      log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
      stop,
      keep: () => {
        stopped = true
        process.off("exit", stop)
        return dir
      }
    }
  } catch (e) {
    stop()
    throw e
  }
}
