/**
 * The reliability suites' harness: a fresh PostgreSQL database, real `tasker` processes on it (started with
 * `test/cli/Support.ts`), a SQL client for the test's own queries and checks, and a scratch directory for the
 * gates of `fixtures/templates.ts`. Everything is loopback; every process is killed and the database dropped by
 * `close`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, ManagedRuntime, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { postgresSqlLayer } from "../../layers/postgres.ts"
import { databases, type Running, start } from "../cli/Support.ts"
import { auditTransitions } from "../support/Audit.ts"

/** The fixture templates module, as the processes are given it (relative to the project root, their cwd). */
export const FIXTURE_TEMPLATES = "test/reliability/fixtures/templates.ts"

/**
 * Settings every process of a suite gets: a quick poll and heartbeat, a small pool (several processes share the
 * test server with other test files), JSON logs.
 */
export const BASE_ENV: Readonly<Record<string, string>> = {
  TASKER_POLL_INTERVAL_MS: "200",
  // the load the tests make is the point: the API's per-client rate limit (docs/security.md) is out of the way
  TASKER_API_RATE_LIMIT: "1000000",
  TASKER_API_RATE_BURST: "1000000",
  TASKER_HEARTBEAT_INTERVAL_MS: "500",
  TASKER_DB_MAX_CONNECTIONS: "4",
  TASKER_METRICS_SAMPLE_INTERVAL_MS: "60000",
  LOG_FORMAT: "json"
}

export interface Cluster {
  readonly url: string
  /** scratch directory for the gates of the fixture templates */
  readonly dir: string
  /** starts `tasker ...args` on the cluster's database with `BASE_ENV` and `env` */
  readonly launch: (args: ReadonlyArray<string>, env?: Record<string, string>) => Running
  /** starts a worker hosting the fixture templates (health server on a free port) and waits until it is up */
  readonly worker: (env?: Record<string, string>, args?: ReadonlyArray<string>) => Promise<Running>
  /** starts an orchestrator and waits until it is registered */
  readonly orchestrator: (env?: Record<string, string>) => Promise<Running>
  /** starts `serve` with the given roles on a free port and waits for its URL */
  readonly api: (roles: string, env?: Record<string, string>, args?: ReadonlyArray<string>) => Promise<{
    readonly process: Running
    readonly url: string
  }>
  /** runs an Effect against the database */
  readonly sql: <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Promise<A>
  /** opens the gate `gate` of the fixture templates */
  readonly release: (gate: string) => void
  readonly close: () => Promise<void>
}

export interface ClusterOptions {
  /**
   * an existing, empty database to run on (e.g. on a private server the test restarts); by default a fresh
   * database on the test server, dropped by `close`
   */
  readonly url?: string
  /** ms after which a process is killed (default 10 minutes) */
  readonly processTimeoutMs?: number
}

/** A fresh, migrated database and the means to run processes on it. */
export const cluster = async (options: ClusterOptions = {}): Promise<Cluster> => {
  const db = options.url === undefined ? databases() : undefined
  const url = options.url ?? await db!.create()
  // migrates the database (once, before any process races to do it) and serves the test's own queries
  const runtime = ManagedRuntime.make(postgresSqlLayer({ url, maxConnections: 3 }).pipe(Layer.orDie))
  const sql = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => runtime.runPromise(effect)
  await sql(Effect.void)
  const dir = mkdtempSync(join(tmpdir(), "tasker-reliability-"))
  const processes: Array<Running> = []

  const launch = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const p = start(args, { env: { ...BASE_ENV, DATABASE_URL: url, ...env }, timeout: options.processTimeoutMs ?? 600_000 })
    processes.push(p)
    return p
  }

  /** waits until the process with `pid` is registered in tasker_processors */
  const registered = (p: Running) =>
    sql(Effect.gen(function*() {
      const db = yield* SqlClient.SqlClient
      const rows = yield* db<{ n: number }>`SELECT count(*)::int AS n FROM tasker_processors
                                             WHERE pid = ${p.child.pid!} AND stopped_at IS NULL`
      if (rows[0]!.n === 0) return yield* Effect.fail("not registered yet")
    }).pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "90 seconds" })))))

  return {
    url,
    dir,
    launch,
    worker: async (env = {}, args = []) => {
      const p = launch(["worker", "--templates", FIXTURE_TEMPLATES, "--health-port", "0", ...args], env)
      await p.waitForStdout(/tasker worker health:/, 90_000)
      return p
    },
    orchestrator: async (env = {}) => {
      const p = launch(["orchestrator", "--health-port", "0"], env)
      await Promise.race([
        registered(p),
        p.exited.then((f) => Promise.reject(new Error(`orchestrator exited ${f.code}: ${f.stderr}`)))
      ])
      return p
    },
    api: async (roles, env = {}, args = []) => {
      const p = launch(["serve", "--roles", roles, "--port", "0", "--templates", FIXTURE_TEMPLATES, ...args], env)
      const match = await p.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 90_000)
      return { process: p, url: match[1]! }
    },
    sql,
    release: (gate) => writeFileSync(join(dir, `${gate}.release`), ""),
    close: async () => {
      await Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) =>
        p.stop("SIGKILL")
      ))
      await runtime.dispose()
      await db?.release()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

/** Resolves once `check` returns true (polled every 100 ms); rejects with `what` after `timeoutMs`. */
export const eventually = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
}

/** The first JSON log line (stderr) whose message contains `text`, once it appears. */
export const waitForLog = (p: Running, text: string, timeoutMs = 60_000) =>
  eventually(`log line "${text}"`, () => p.stderr().includes(text), timeoutMs).then(() =>
    p.stderr().split("\n").find((line) => line.includes(text))!
  )

export interface TaskRow {
  readonly task_uuid: string
  readonly current_state: string
}

export const taskStates = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<TaskRow>`SELECT task_uuid::text, current_state FROM tasker_tasks`
})

/** Tasks by state: `{ complete: 12, steps_in_process: 3 }`. */
export const stateCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ current_state: string; n: number }>`
    SELECT current_state, count(*)::int AS n FROM tasker_tasks GROUP BY current_state`
  return Object.fromEntries(rows.map((r) => [r.current_state, r.n])) as Record<string, number>
})

export interface StepRow {
  readonly step_uuid: string
  readonly name: string
  readonly current_state: string
  readonly attempts: number
  /** how often the step was recorded `complete` */
  readonly completions: number
  readonly events: ReadonlyArray<string>
  readonly processors: ReadonlyArray<string>
}

/** The steps of a task with their attempts, `complete` transitions, events and the processors that wrote them. */
export const stepsOf = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<StepRow>`
      SELECT ws.workflow_step_uuid::text AS step_uuid, ns.name, ws.current_state, ws.attempts,
             (SELECT count(*)::int FROM tasker_workflow_step_transitions st
              WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state = 'complete') AS completions,
             (SELECT array_agg(st.metadata ->> 'event' ORDER BY st.sort_key) FROM tasker_workflow_step_transitions st
              WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.from_state IS NOT NULL) AS events,
             (SELECT array_agg(st.processor_uuid::text ORDER BY st.sort_key) FROM tasker_workflow_step_transitions st
              WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.from_state IS NOT NULL) AS processors
      FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
      WHERE ws.task_uuid = ${taskUuid}`
  })

/** The processor uuid of the process with `pid`. */
export const processorOf = (pid: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ processor_uuid: string }>`
      SELECT processor_uuid::text FROM tasker_processors WHERE pid = ${pid} ORDER BY created_at DESC LIMIT 1`
    return rows[0]?.processor_uuid
  })

/**
 * The whole database's audit: illegal or inconsistent transitions (`auditTransitions`), steps recorded `complete`
 * more than once, and tasks or steps not finished. Empty when all is well.
 */
export const fullAudit = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const problems = [...yield* auditTransitions]
  const twice = yield* sql<{ id: string; n: number }>`
    SELECT workflow_step_uuid::text AS id, count(*)::int AS n FROM tasker_workflow_step_transitions
    WHERE to_state = 'complete' GROUP BY workflow_step_uuid HAVING count(*) > 1`
  for (const row of twice) problems.push(`step ${row.id} completed ${row.n} times`)
  const unfinished = yield* sql<{ task_uuid: string; current_state: string }>`
    SELECT task_uuid::text, current_state FROM tasker_tasks WHERE current_state <> 'complete'`
  for (const row of unfinished) problems.push(`task ${row.task_uuid} is ${row.current_state}`)
  const steps = yield* sql<{ id: string; current_state: string }>`
    SELECT workflow_step_uuid::text AS id, current_state FROM tasker_workflow_steps WHERE current_state <> 'complete'`
  for (const row of steps) problems.push(`step ${row.id} is ${row.current_state}`)
  return problems
})

/** The dead letters of a queue, with their reasons. */
export const deadLetters = (queue: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ msg_id: string; reason: string; message: unknown }>`
      SELECT msg_id::text, reason, message FROM tasker_queue_archive WHERE queue_name = ${queue} AND dead_letter
      ORDER BY msg_id`
  })

/** Messages still in a queue. */
export const queueDepth = (queue: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_queue_messages WHERE queue_name = ${queue}`
    return rows[0]!.n
  })

// ---------------------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------------------

export interface TaskRequest {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly context: object
  readonly idempotency_key?: string
}

/** `POST /v1/tasks`; returns the new task's uuid (fails on any status but 201). */
export const createTask = async (apiUrl: string, request: TaskRequest): Promise<string> => {
  const response = await fetch(`${apiUrl}/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request)
  })
  const body = await response.text()
  if (response.status !== 201) throw new Error(`POST /v1/tasks answered ${response.status}: ${body}`)
  return (JSON.parse(body) as { task_uuid: string }).task_uuid
}

/** A task of the fixture template `reliability/gated` that waits on gate `gate`. */
export const gated = (dir: string, gate: string): TaskRequest => ({
  namespace: "reliability",
  name: "gated",
  version: "1.0.0",
  context: { dir, gate }
})

/** A task of the linear example. */
export const linear = (evenNumber: number): TaskRequest => ({
  namespace: "rust_e2e_linear",
  name: "mathematical_sequence",
  version: "1.0.0",
  context: { even_number: evenNumber }
})

/** The current state of a task. */
export const stateOf = (taskUuid: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ current_state: string }>`SELECT current_state FROM tasker_tasks WHERE task_uuid = ${taskUuid}`
    return rows[0]?.current_state
  })
