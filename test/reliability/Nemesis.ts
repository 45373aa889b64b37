/**
 * The fault run's nemesis: it keeps a set of `tasker` process slots (orchestrators and workers) running, and every
 * 1-5 s (seeded) it SIGKILLs a random worker or orchestrator and starts a new one in its place, or SIGSTOPs a
 * worker for 5-40 s and then SIGCONTs it. At seeded moments it restarts the PostgreSQL server (stop, a few
 * seconds down, start). Every process it ever ran (an incarnation: slot, pid, start, kill, pauses, exit) and
 * every fault is recorded, so the checks can tell which fault explains a handler that ran twice.
 *
 * A process that exits on its own is recorded as such and started again after a second.
 */
import type { Running } from "../cli/Support.ts"
import { between, pick, type Random } from "./FaultPlan.ts"

export type Role = "worker" | "orchestrator"

export interface Slot {
  readonly name: string
  readonly role: Role
  readonly args: ReadonlyArray<string>
  readonly env: Record<string, string>
}

export interface Pause {
  readonly from: number
  /** when it was resumed (undefined while it is stopped) */
  to: number | undefined
}

/** One process the nemesis ran in a slot. Times are epoch ms. */
export interface Incarnation {
  readonly slot: string
  readonly role: Role
  readonly process: Running
  readonly pid: number
  readonly spawnedAt: number
  /** when a worker printed its health banner (its engine is built); orchestrators are judged by their registration */
  upAt: number | undefined
  killedAt: number | undefined
  exitedAt: number | undefined
  readonly pauses: Array<Pause>
}

export interface DbRestart {
  readonly mode: "fast" | "immediate"
  /** when the stop began */
  readonly at: number
  /** when the server accepted connections again */
  readonly up: number
  readonly downMs: number
}

export interface UnexpectedExit {
  readonly slot: string
  readonly role: Role
  readonly pid: number
  readonly spawnedAt: number
  readonly at: number
  readonly code: number | null
  readonly signal: string | null
  readonly stderrTail: string
  /** when a worker was up (see `Incarnation.upAt`) */
  readonly upAt: number | undefined
  readonly pauses: ReadonlyArray<Pause>
}

export interface NemesisOptions {
  readonly slots: ReadonlyArray<Slot>
  readonly launch: (args: ReadonlyArray<string>, env: Record<string, string>) => Running
  /** restarts the database server: stop with `mode`, `downMs` without a server, start */
  readonly restartDb: (mode: "fast" | "immediate", downMs: number) => Promise<{ readonly down: number; readonly up: number }>
  readonly random: Random
}

/** At most this many workers are stopped at once, so at least one keeps working. */
const MAX_PAUSED_WORKERS = 2

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const makeNemesis = (options: NemesisOptions) => {
  const { random } = options
  const incarnations: Array<Incarnation> = []
  const current = new Map<string, Incarnation>()
  const dbRestarts: Array<DbRestart> = []
  const exits: Array<UnexpectedExit> = []
  const resumeTimers = new Set<ReturnType<typeof setTimeout>>()
  let closing = false

  const spawn = (slot: Slot): Incarnation => {
    const process = options.launch(slot.args, slot.env)
    const incarnation: Incarnation = {
      slot: slot.name,
      role: slot.role,
      process,
      pid: process.child.pid!,
      spawnedAt: Date.now(),
      upAt: undefined,
      killedAt: undefined,
      exitedAt: undefined,
      pauses: []
    }
    incarnations.push(incarnation)
    current.set(slot.name, incarnation)
    if (slot.role === "worker") {
      process.waitForStdout(/tasker worker health:/, 600_000).then(
        () => (incarnation.upAt = Date.now()),
        () => undefined
      )
    }
    void process.exited.then((finished) => {
      incarnation.exitedAt = Date.now()
      if (incarnation.killedAt !== undefined || closing) return
      exits.push({
        slot: slot.name,
        role: slot.role,
        pid: incarnation.pid,
        spawnedAt: incarnation.spawnedAt,
        at: incarnation.exitedAt,
        code: finished.code,
        signal: finished.signal,
        stderrTail: finished.stderr.slice(-1500),
        upAt: incarnation.upAt,
        pauses: incarnation.pauses
      })
      setTimeout(() => {
        if (!closing && current.get(slot.name) === incarnation) spawn(slot)
      }, 1_000)
    })
    return incarnation
  }

  const alive = (i: Incarnation) => i.exitedAt === undefined && i.killedAt === undefined
  const paused = (i: Incarnation) => i.pauses.some((p) => p.to === undefined)

  const resume = (i: Incarnation) => {
    const pause = i.pauses.find((p) => p.to === undefined)
    if (pause === undefined) return
    if (alive(i)) i.process.child.kill("SIGCONT")
    pause.to = Date.now()
  }

  const kill = (i: Incarnation) => {
    i.killedAt = Date.now()
    i.process.child.kill("SIGKILL")
    // a killed paused process counts as resumed at its death
    const pause = i.pauses.find((p) => p.to === undefined)
    if (pause !== undefined) pause.to = i.killedAt
    spawn(options.slots.find((s) => s.name === i.slot)!)
  }

  const pause = (i: Incarnation) => {
    const ms = between(random, 5_000, 40_000)
    i.process.child.kill("SIGSTOP")
    i.pauses.push({ from: Date.now(), to: undefined })
    const timer = setTimeout(() => {
      resumeTimers.delete(timer)
      resume(i)
    }, ms)
    resumeTimers.add(timer)
  }

  /** One fault: kill a worker (45 %), kill an orchestrator (35 %), or pause a worker (20 %). */
  const strike = () => {
    const running = [...current.values()].filter((i) => alive(i) && !paused(i))
    const workers = running.filter((i) => i.role === "worker")
    const orchestrators = running.filter((i) => i.role === "orchestrator")
    const pausedWorkers = [...current.values()].filter((i) => i.role === "worker" && paused(i)).length
    const r = random()
    if (r < 0.2 && pausedWorkers < MAX_PAUSED_WORKERS && workers.length > 1) return pause(pick(random, workers))
    if (r < 0.55 && orchestrators.length > 0) return kill(pick(random, orchestrators))
    if (workers.length > 0) return kill(pick(random, workers))
  }

  return {
    incarnations,
    dbRestarts,
    exits,
    /** starts every slot's first process */
    start: () => options.slots.map(spawn),
    /**
     * Strikes every 1-5 s until `until` (epoch ms); restarts the database `restarts` times, at seeded moments
     * between 30 % and 90 % of the window (the first `immediate`, a crash for the data, then alternately `fast`).
     */
    run: async (until: number, restarts: number) => {
      const startedAt = Date.now()
      const window = until - startedAt
      const restartAt = Array.from({ length: restarts }, () => startedAt + window * (0.3 + 0.6 * random())).sort((a, b) => a - b)
      while (true) {
        const wait = between(random, 1_000, 5_000)
        if (Date.now() + wait >= until) break
        await sleep(wait)
        if (restartAt.length > 0 && Date.now() >= restartAt[0]!) {
          restartAt.shift()
          const mode = dbRestarts.length % 2 === 0 ? "immediate" : "fast"
          const downMs = between(random, 1_000, 6_000)
          const { down, up } = await options.restartDb(mode, downMs)
          dbRestarts.push({ mode, at: down, up, downMs })
        } else {
          strike()
        }
      }
    },
    /** ends the faults: resumes every stopped process (the slots keep running) */
    settle: () => {
      for (const timer of resumeTimers) clearTimeout(timer)
      resumeTimers.clear()
      for (const i of current.values()) resume(i)
    },
    /** from now on exits are expected (the harness kills everything) */
    close: () => {
      closing = true
    },
    /** the processes running now */
    running: () => [...current.values()].filter(alive)
  }
}

export type Nemesis = ReturnType<typeof makeNemesis>
