/**
 * The seeded, randomized fault run (issue 12's safety net): an API process, 2 orchestrators and 3 workers (one of
 * them handing its results to the orchestrators instead of applying them inline) on a fresh database of a
 * **private** PostgreSQL server, while
 *
 * - a client submits mixed tasks (linear, diamond, tree, mixed DAG; about 60 % with an idempotency key, a quarter
 *   of those sent twice) through the API over HTTP, retrying refused requests and connection errors;
 * - the handlers sleep as planned, some longer than the 4 s visibility timeout, and some fail their first attempt;
 * - a nemesis, every 1-5 s, SIGKILLs a random worker or orchestrator (and starts a new one in its place) or
 *   SIGSTOPs a worker for 5-40 s, and restarts the PostgreSQL server (by default once, `immediate`: a crash).
 *
 * Then the cluster drains, and the invariants are checked against the database (`FaultChecks.ts`): every accepted
 * task exists once per key and is terminal, every completed task's results are exact, no step completed twice or
 * before a parent, attempts within the limit, a clean transition audit, no message left, no step stuck
 * `in_progress`, and every handler that ran more than once explained by a fault.
 *
 * One seed (`TASKER_FAULT_SEED`) drives every random choice; the size and length come from `TASKER_FAULT_TASKS`,
 * `TASKER_FAULT_MINUTES`, `TASKER_FAULT_DB_RESTARTS` and `TASKER_FAULT_DRAIN_MINUTES` (`FaultPlan.ts`). The
 * database server is the test's own (`PrivatePostgres.ts`), because the shared test server must never be
 * restarted; without PostgreSQL server binaries the run is skipped, saying so.
 */
import { Effect, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  accepted,
  type Answer,
  type Check,
  faultChecks,
  type FaultRecord,
  loadFaultRun,
  type Submission
} from "./FaultChecks.ts"
import { faultSettings, planTasks, streamOf, type PlannedTask } from "./FaultPlan.ts"
import { FAULT_RUNS_TABLE_DDL } from "./fixtures/fault-templates.ts"
import { makeNemesis, type Nemesis, type Slot } from "./Nemesis.ts"
import { findPostgresBin, type PrivatePostgres, startPrivatePostgres } from "./PrivatePostgres.ts"
import { type Cluster, cluster, stateCounts } from "./Support.ts"

const FAULT_TEMPLATES = "test/reliability/fixtures/fault-templates.ts"
const TEMPLATES = ["--templates", FAULT_TEMPLATES]

const settings = faultSettings()

/**
 * Every process: a 4 s visibility timeout (the long handlers outlive it; a stopped worker's steps come back
 * quickly), orchestrators stale after 5 s (a killed one's tasks are taken over soon), a 500 ms poll for the
 * messages that come back without a notification.
 */
const ENV = {
  TASKER_VISIBILITY_TIMEOUT_SECONDS: String(settings.visibilityTimeoutSeconds),
  TASKER_STALE_AFTER_SECONDS: "5",
  TASKER_POLL_INTERVAL_MS: "500",
  TASKER_DB_MAX_CONNECTIONS: "8"
}

const SLOTS: ReadonlyArray<Slot> = [
  { name: "orchestrator-1", role: "orchestrator", args: ["orchestrator", "--health-port", "0"], env: ENV },
  { name: "orchestrator-2", role: "orchestrator", args: ["orchestrator", "--health-port", "0"], env: ENV },
  { name: "worker-1", role: "worker", args: ["worker", ...TEMPLATES, "--health-port", "0"], env: ENV },
  { name: "worker-2", role: "worker", args: ["worker", ...TEMPLATES, "--health-port", "0"], env: ENV },
  // results through the results queue, so killed orchestrators also interrupt result processing
  {
    name: "worker-3",
    role: "worker",
    args: ["worker", ...TEMPLATES, "--health-port", "0"],
    env: { ...ENV, TASKER_INLINE_RESULT_PROCESSING: "false" }
  }
]

/** Requests in flight at most. */
const LANES = 20

const pgBin = findPostgresBin()
if (pgBin === undefined) {
  console.warn("fault run skipped: no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin, TASKER_PG_BIN or PATH")
}

let pg: PrivatePostgres | undefined
let c: Cluster | undefined
let nemesis: Nemesis | undefined
let api = ""
/** whether the run failed (`TASKER_FAULT_KEEP_DB` then keeps the private server running, for a post-mortem) */
let failed = true

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The test's own queries, retried while the database is away. */
const query = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  c!.sql(effect.pipe(Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo({ duration: "60 seconds" })))))

beforeAll(async () => {
  if (pgBin === undefined) return
  const started = await startPrivatePostgres()
  if ("skipped" in started) throw new Error(started.skipped)
  pg = started
  pg.createDatabase("tasker_fault")
  c = await cluster({
    url: pg.url("tasker_fault"),
    processTimeoutMs: settings.faultMs + settings.drainMs + 10 * 60_000
  })
  await c.sql(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(FAULT_RUNS_TABLE_DDL)
  }))
  const a = await c.api("api", ENV, TEMPLATES)
  api = a.url
  nemesis = makeNemesis({ slots: SLOTS, launch: c.launch, restartDb: pg.restart, random: streamOf(settings.seed, "nemesis") })
  const first = nemesis.start()
  // every first process up: the workers' health servers, every process registered
  await Promise.all(first.filter((i) => i.role === "worker").map((i) => i.process.waitForStdout(/tasker worker health:/, 120_000)))
  const pids = first.map((i) => i.pid)
  const deadline = Date.now() + 120_000
  while (true) {
    const rows = await c.sql(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_processors WHERE pid IN ${sql.in(pids)}`
    }))
    if (rows[0]!.n >= pids.length) break
    if (Date.now() > deadline) throw new Error("the first processes did not register")
    await sleep(200)
  }
}, 300_000)

afterAll(async () => {
  nemesis?.close()
  await c?.close().catch((e) => console.error("closing the cluster:", e))
  if (pg !== undefined && failed && process.env["TASKER_FAULT_KEEP_DB"] !== undefined) {
    const dir = pg.keep()
    console.log(
      `fault run: the database is kept for a post-mortem at ${pg.url("tasker_fault")} (server directory ${dir}; ` +
        `stop it with pg_ctl stop -D ${dir}/data and remove the directory)`
    )
  } else {
    pg?.stop()
  }
}, 120_000)

/** `POST /v1/tasks` until it is accepted (201 or 200), refused for good (4xx) or `deadline` passes. */
const submit = async (task: PlannedTask, answers: Array<Answer>, deadline: number) => {
  let backoff = 100
  while (true) {
    try {
      const response = await fetch(`${api}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(task.request),
        signal: AbortSignal.timeout(30_000)
      })
      const body = await response.text()
      const status = String(response.status)
      if (status === "201" || status === "200") {
        answers.push({ at: Date.now(), status, uuid: (JSON.parse(body) as { task_uuid: string }).task_uuid })
        return
      }
      answers.push({ at: Date.now(), status })
      if (/^4/.test(status)) {
        console.error(`request ${task.index} refused: ${status} ${body}`)
        return
      }
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause
      answers.push({ at: Date.now(), status: `fetch failed: ${cause?.code ?? (e as Error).name}` })
    }
    if (Date.now() > deadline) return
    await sleep(backoff)
    backoff = Math.min(backoff * 2, 2_000)
  }
}

/** Sends every planned request (and resubmission) at its time, `LANES` at most at once. */
const submitAll = async (plan: ReadonlyArray<PlannedTask>, start: number, deadline: number) => {
  const queue = plan.flatMap((task) => [
    { task, at: task.at, resubmission: false },
    ...task.resubmitAt.map((at) => ({ task, at, resubmission: true }))
  ]).sort((a, b) => a.at - b.at)
  const submissions: Array<Submission> = []
  let next = 0
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < queue.length) {
      const item = queue[next++]!
      const submission: Submission = { task: item.task, resubmission: item.resubmission, answers: [] }
      submissions.push(submission)
      await sleep(Math.max(0, start + item.at - Date.now()))
      await submit(item.task, submission.answers, deadline)
    }
  }))
  return submissions
}

const TERMINAL = ["complete", "error", "cancelled", "resolved_manually"]

/**
 * Waits until no task is left unfinished (terminal, or blocked for an operator) and the queues are empty; gives up
 * after `deadline`, or when nothing has changed for two minutes (the checks then report what is stuck).
 */
const drain = async (deadline: number) => {
  let lastSeen = ""
  let lastChange = Date.now()
  while (Date.now() < deadline && Date.now() - lastChange < 120_000) {
    const counts = await query(stateCounts)
    const depth = await query(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_queue_messages`
      return rows[0]!.n
    }))
    const open = Object.entries(counts).filter(([s]) => !TERMINAL.includes(s) && s !== "blocked_by_failures")
    if (open.length === 0 && depth === 0) return
    const seen = JSON.stringify({ counts, depth })
    if (seen !== lastSeen) {
      lastSeen = seen
      lastChange = Date.now()
    }
    await sleep(1_000)
  }
}

const summary = (record: FaultRecord, checks: ReadonlyArray<Check>, extra: Record<string, unknown>) => {
  const kills = record.incarnations.filter((i) => i.killedAt !== undefined)
  const pauses = record.incarnations.flatMap((i) => i.pauses)
  const pausedMs = pauses.reduce((acc, p) => acc + ((p.to ?? record.faultsEndedAt) - p.from), 0)
  const keyed = record.plan.filter((t) => t.request.idempotency_key !== undefined).length
  const resubmitted = record.plan.filter((t) => t.resubmitAt.length > 0).length
  const answers = record.submissions.flatMap((s) => s.answers)
  const refused: Record<string, number> = {}
  for (const a of answers.filter((a) => !accepted(a))) refused[a.status] = (refused[a.status] ?? 0) + 1
  return [
    `fault run: seed ${settings.seed}, ${settings.tasks} tasks, ${(settings.faultMs / 60_000).toFixed(1)} min of faults, ` +
    `visibility timeout ${settings.visibilityTimeoutSeconds} s (replay: TASKER_FAULT_SEED=${settings.seed} ` +
    `TASKER_FAULT_TASKS=${settings.tasks} TASKER_FAULT_MINUTES=${settings.faultMs / 60_000})`,
    `nemesis: ${kills.length} kills (${kills.filter((i) => i.role === "worker").length} workers, ` +
    `${kills.filter((i) => i.role === "orchestrator").length} orchestrators), ${pauses.length} pauses ` +
    `(${(pausedMs / 1000).toFixed(0)} s stopped in all), ${record.dbRestarts.length} database restart(s) ` +
    `(${record.dbRestarts.map((d) => `${d.mode}, down ${((d.up - d.at) / 1000).toFixed(1)} s`).join("; ")}), ` +
    `${record.exits.length} process exit(s) on their own` +
      record.exits.map((e) => {
        const restart = record.dbRestarts.findLast((d) => d.at <= e.at)
        const paused = e.pauses.reduce((acc, p) => acc + ((p.to ?? e.at) - p.from), 0)
        return `\n  ${e.slot} (pid ${e.pid}) exited ${e.code ?? e.signal} ${((e.at - e.spawnedAt) / 1000).toFixed(1)} s ` +
          `after it started${e.role === "worker" ? (e.upAt === undefined ? ", never up" : ", after it was up") : ""}` +
          `${paused > 0 ? `, stopped ${(paused / 1000).toFixed(1)} s of it` : ""}, ` +
          `${restart === undefined ? "before any database restart" : `${((e.at - restart.at) / 1000).toFixed(1)} s after a database stop`}: ` +
          e.stderrTail.trim().split("\n").at(-1)!.slice(0, 300)
      }).join(""),
    `tasks: ${record.plan.length} planned (${keyed} keyed, ${resubmitted} sent twice), ${record.submissions.length} requests, ` +
    `${answers.length} attempts (not accepted: ${JSON.stringify(refused)})`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`),
    ...checks.map((ch) => `${ch.problems.length === 0 ? "ok  " : "FAIL"} ${ch.name}${ch.problems.length === 0 ? "" : `: ${ch.problems.join(" | ")}`}`)
  ].join("\n")
}

describe.skipIf(pgBin === undefined)("fault run", () => {
  it(
    `seed ${settings.seed}: ${settings.tasks} tasks through kills, pauses and a database restart; every invariant holds`,
    async () => {
      const plan = planTasks(settings)
      const start = Date.now()
      const faultsEnd = start + settings.faultMs
      const drainDeadline = faultsEnd + settings.drainMs
      const progress = setInterval(() => {
        const kills = nemesis!.incarnations.filter((i) => i.killedAt !== undefined).length
        void query(stateCounts).then((counts) =>
          console.log(`fault run +${((Date.now() - start) / 1000).toFixed(0)} s: ${kills} kills, tasks ${JSON.stringify(counts)}`)
        ).catch(() => undefined)
      }, 30_000)
      try {
        const submitting = submitAll(plan, start, drainDeadline)
        await nemesis!.run(faultsEnd, settings.dbRestarts)
        nemesis!.settle()
        const faultsEndedAt = Date.now()
        const submissions = await submitting
        const submittedAt = Date.now()
        await drain(drainDeadline)
        const drainedAt = Date.now()
        const record: FaultRecord = {
          plan,
          submissions,
          incarnations: nemesis!.incarnations,
          dbRestarts: nemesis!.dbRestarts,
          exits: nemesis!.exits,
          visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
          faultsEndedAt,
          plannedDbRestarts: settings.dbRestarts,
          requireEveryFault: settings.faultMs >= 60_000
        }
        const data = await query(loadFaultRun)
        const { checks, claimsStampedEarly, duplicatesOfKeylessRetries, reruns } = faultChecks(record, data)
        const states: Record<string, number> = {}
        for (const t of data.tasks) states[t.current_state] = (states[t.current_state] ?? 0) + 1
        console.log(summary(record, checks, {
          "tasks in the database": `${data.tasks.length} ${JSON.stringify(states)}, ${data.steps.length} steps; ` +
            `${duplicatesOfKeylessRetries} extra task(s) from requests without a key retried after an ambiguous answer`,
          timing: `last request accepted ${((submittedAt - start) / 1000).toFixed(0)} s after the start, drained ` +
            `${((drainedAt - faultsEndedAt) / 1000).toFixed(0)} s after the faults ended`,
          "handler runs": `${reruns.runs} runs; ${reruns.stepsRunTwiceOrMore} steps ran more than once, ` +
            `${reruns.extraRuns} extra runs: ${JSON.stringify(reruns.byExplanation)}`,
          "claims stamped before their parent's completion (statement-start timestamps, not a fault)":
            `${claimsStampedEarly.length}${claimsStampedEarly.slice(0, 5).map((x) => `\n  ${x}`).join("")}`,
          archived: data.archive.map((a) => `${a.n} ${a.queue_name} ${a.dead_letter ? "dead letter " : ""}"${a.reason}"`).join("; ")
        }))
        const broken = checks.filter((ch) => ch.problems.length > 0)
        failed = broken.length > 0
        expect(broken).toEqual([])
      } finally {
        clearInterval(progress)
      }
    },
    settings.faultMs + settings.drainMs + 5 * 60_000
  )
})
