/**
 * Starts bench/support/engine-process.ts as a child process (same Node binary, optional extra Node flags such as
 * `--cpu-prof`) and waits until it serves; `stop` ends it cleanly and waits for its exit.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { repoRoot } from "./Harness.ts"

export interface EngineProcess {
  readonly baseUrl: string
  readonly pid: number
  readonly stop: () => Promise<void>
}

export const startEngineProcess = (options: {
  readonly databaseUrl: string
  readonly nodeFlags?: ReadonlyArray<string>
  readonly worker?: boolean
  readonly orchestrator?: boolean
  readonly env?: Readonly<Record<string, string>>
}): Promise<EngineProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), join(repoRoot, "bench/support/engine-process.ts")], {
      cwd: repoRoot,
      env: {
        ...process.env,
        BENCH_ENGINE_DATABASE_URL: options.databaseUrl,
        BENCH_ENGINE_WORKER: options.worker === false ? "0" : "1",
        BENCH_ENGINE_ORCHESTRATOR: options.orchestrator === false ? "0" : "1",
        ...options.env
      },
      stdio: ["pipe", "pipe", "inherit"]
    })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      const ready = /READY (\S+)/.exec(output)
      if (ready === null) return
      child.stdout.off("data", onData)
      child.stdout.resume()
      resolve({
        baseUrl: ready[1]!,
        pid: child.pid!,
        stop: async () => {
          child.kill("SIGTERM")
          await exited
        }
      })
    }
    child.stdout.on("data", onData)
    child.once("exit", (code) => reject(new Error(`engine process exited (${code}) before it was ready: ${output}`)))
    child.once("error", reject)
  })
