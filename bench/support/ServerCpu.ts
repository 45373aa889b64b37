/**
 * CPU time spent during a measured window, for CPU-per-step figures: this process (`process.cpuUsage()`: the engine
 * and the benchmark driving it) and the PostgreSQL processes, read from `/proc/<pid>/stat` (utime + stime, in
 * clock ticks) before and after. PostgreSQL's share is split in two:
 *
 * - the backends connected to the benchmark's database (`pg_stat_activity.datname`): the sessions serving the
 *   engine, including its LISTEN connection and any connection opened during the window;
 * - the server's auxiliary processes (WAL writer, checkpointer, background writer, …: `datname IS NULL`), which
 *   serve every database on the server, so other work on the machine shows in them.
 *
 * Needs PostgreSQL on this machine (its process ids visible in /proc, as on the development machine); otherwise
 * the PostgreSQL figures are undefined. A backend that exits during the window loses its time (the engine's pool
 * keeps its connections while busy). Resolution: one clock tick (10 ms at the usual 100 Hz) per process.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { benchAdminUrl } from "./BenchEngine.ts"

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 when unknown). */
export const clockTicksPerSecond: number = (() => {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
})()

/**
 * utime + stime (clock ticks) and the command name from the text of `/proc/<pid>/stat`. The command (field 2) is
 * in parentheses and may itself contain spaces and parentheses, so fields are counted from the last `)`.
 */
export const parseProcStat = (text: string): { readonly comm: string; readonly cpuTicks: number } | undefined => {
  const open = text.indexOf("(")
  const close = text.lastIndexOf(")")
  if (open === -1 || close < open) return undefined
  // after ")": field 3 (state) is index 0, so field n is index n - 3: utime (14) → 11, stime (15) → 12
  const fields = text.slice(close + 2).split(" ")
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return { comm: text.slice(open + 1, close), cpuTicks: utime + stime }
}

/** CPU time (ms) of a PostgreSQL process, or undefined when it is not visible here (gone, or another machine). */
const postgresCpuMs = (pid: number): number | undefined => {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"))
    return stat === undefined || !stat.comm.startsWith("postgres") ? undefined : (stat.cpuTicks * 1000) / clockTicksPerSecond
  } catch {
    return undefined
  }
}

interface Sample {
  readonly processMs: number
  /** pid → CPU ms, for the database's backends and the auxiliary processes */
  readonly backends: ReadonlyMap<number, number>
  readonly auxiliary: ReadonlyMap<number, number>
}

export interface CpuWindow {
  /** CPU time (ms) since the window opened */
  readonly close: () => Promise<{
    readonly processMs: number
    /** undefined when PostgreSQL's processes are not visible in /proc */
    readonly backendsMs: number | undefined
    readonly auxiliaryMs: number | undefined
    readonly backends: number
  }>
}

/** Opens a window on this process's CPU time and that of the PostgreSQL processes serving `database`. */
export const openCpuWindow = async (database: string): Promise<CpuWindow> => {
  const pids = () =>
    Effect.gen(function*() {
      const admin = yield* PgClient.makeClient({ url: Redacted.make(benchAdminUrl), applicationName: "tasker-bench-cpu" })
      return yield* admin<{ pid: number; ours: boolean }>`
        SELECT pid, datname IS NOT NULL AS ours FROM pg_stat_activity
        WHERE datname = ${database} OR (datname IS NULL AND backend_type <> 'client backend')`
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)
  const sample = async (): Promise<Sample> => {
    const rows = await pids()
    const usage = process.cpuUsage()
    const processMs = (usage.user + usage.system) / 1000
    const backends = new Map<number, number>()
    const auxiliary = new Map<number, number>()
    for (const row of rows) {
      const ms = postgresCpuMs(row.pid)
      if (ms === undefined) continue
      ;(row.ours ? backends : auxiliary).set(row.pid, ms)
    }
    return { processMs, backends, auxiliary }
  }
  const before = await sample()
  return {
    close: async () => {
      const after = await sample()
      const delta = (then: ReadonlyMap<number, number>, now: ReadonlyMap<number, number>) => {
        let ms = 0
        // a process that started during the window counts from 0; one that exited keeps its last reading
        for (const pid of new Set([...then.keys(), ...now.keys()])) ms += (now.get(pid) ?? then.get(pid)!) - (then.get(pid) ?? 0)
        return ms
      }
      const visible = after.backends.size > 0
      return {
        processMs: after.processMs - before.processMs,
        backendsMs: visible ? delta(before.backends, after.backends) : undefined,
        auxiliaryMs: visible ? delta(before.auxiliary, after.auxiliary) : undefined,
        backends: after.backends.size
      }
    }
  }
}
