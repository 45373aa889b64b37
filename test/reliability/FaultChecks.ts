/**
 * The invariants of the fault run, checked with SQL against its database once the cluster has drained. Each check
 * returns the problems it found (empty when it holds), so the run reports every broken invariant at once.
 *
 * Handler re-runs are counted and explained here: each extra run of a step (rows of `fault_handler_runs`) is
 * explained by what happened to the run of the step's previous attempt: a fault of the nemesis (its process killed,
 * paused or exited, the database restarted), its planned failure, or its outliving the visibility timeout on a
 * live worker.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { auditTransitions } from "../support/Audit.ts"
import { halfTasks } from "../support/Integrity.ts"
import { type PlannedTask, requestTag } from "./FaultPlan.ts"
import { expectedResults, type FaultShape } from "./fixtures/fault-templates.ts"
import type { DbRestart, Incarnation, UnexpectedExit } from "./Nemesis.ts"

/** One answer of the API to one attempt of a request. */
export interface Answer {
  readonly at: number
  /** the HTTP status, or `fetch failed: <code>` */
  readonly status: string
  readonly uuid?: string
}

/** A request as the client sent it, with every answer it got (a keyed task may have been sent twice). */
export interface Submission {
  readonly task: PlannedTask
  readonly resubmission: boolean
  readonly answers: Array<Answer>
}

export interface FaultRecord {
  readonly plan: ReadonlyArray<PlannedTask>
  readonly submissions: ReadonlyArray<Submission>
  readonly incarnations: ReadonlyArray<Incarnation>
  readonly dbRestarts: ReadonlyArray<DbRestart>
  readonly exits: ReadonlyArray<UnexpectedExit>
  readonly visibilityTimeoutSeconds: number
  /** when the faults ended (epoch ms) */
  readonly faultsEndedAt: number
  /** the PostgreSQL restarts asked for */
  readonly plannedDbRestarts: number
  /** whether the window was long enough that every kind of fault must have happened (a minute or more) */
  readonly requireEveryFault: boolean
}

export interface Check {
  readonly name: string
  readonly problems: ReadonlyArray<string>
}

export interface RerunStats {
  readonly runs: number
  readonly stepsRunTwiceOrMore: number
  readonly extraRuns: number
  /** extra runs by the fault that explains them */
  readonly byExplanation: Readonly<Record<string, number>>
}

const TERMINAL_TASK_STATES = new Set(["complete", "error", "cancelled", "resolved_manually"])

/** An answer that accepted the request (the task was created, or it already existed). */
export const accepted = (a: Answer) => a.status === "201" || a.status === "200"

/**
 * An attempt that failed in a way that may still have created the task (the request may have reached the server):
 * anything but a refused connection.
 */
const ambiguous = (a: Answer) => !accepted(a) && !a.status.includes("ECONNREFUSED") && !/^4/.test(a.status)

const load = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tasks = yield* sql<{ task_uuid: string; shape: string; current_state: string; even_number: number; tags: ReadonlyArray<string> }>`
    SELECT t.task_uuid::text, nt.name AS shape, t.current_state, (t.context ->> 'even_number')::int AS even_number, t.tags
    FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid`
  const steps = yield* sql<{
    step_uuid: string
    task_uuid: string
    name: string
    current_state: string
    attempts: number
    max_attempts: number
    result: string | null
    error: string | null
    completions: number
    claims: number
    releases: number
  }>`
    SELECT ws.workflow_step_uuid::text AS step_uuid, ws.task_uuid::text, ns.name, ws.current_state, ws.attempts,
           ws.max_attempts, ws.results ->> 'result' AS result,
           (ws.results -> 'error' ->> 'error_type') || ': ' || (ws.results -> 'error' ->> 'message') AS error,
           coalesce(tr.completions, 0) AS completions, coalesce(tr.claims, 0) AS claims,
           coalesce(tr.releases, 0) AS releases
    FROM tasker_workflow_steps ws
    JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
    LEFT JOIN (
      SELECT workflow_step_uuid,
             count(*) FILTER (WHERE to_state = 'complete')::int AS completions,
             count(*) FILTER (WHERE metadata ->> 'event' IN ('Start', 'Reclaim'))::int AS claims,
             count(*) FILTER (WHERE metadata ->> 'event' = 'Release')::int AS releases
      FROM tasker_workflow_step_transitions GROUP BY workflow_step_uuid
    ) tr ON tr.workflow_step_uuid = ws.workflow_step_uuid`
  // compared in SQL, at the database's microsecond precision. A transition's created_at is its transaction's
  // start (now()); a claim's reads inside tasker_claim_step_messages take later snapshots, so a claim may be
  // stamped a little before the parent's completion it saw committed: claims are ordered by the handler runs
  // instead (a handler starts after its claim committed), completions by their timestamps (a completion's
  // transaction starts after its handler ran).
  const edges = yield* sql<{
    parent: string
    child: string
    parent_completed_at: string | null
    child_completed_at: string | null
    child_claimed_at: string | null
    child_enqueued_at: string | null
    child_completed_first: boolean
    child_claim_stamped_first: boolean
    child_runs_first: ReadonlyArray<string> | null
    child_first_run_at: string | null
  }>`
    WITH firsts AS (
      SELECT workflow_step_uuid,
             min(created_at) FILTER (WHERE to_state = 'complete') AS completed_at,
             min(created_at) FILTER (WHERE metadata ->> 'event' IN ('Start', 'Reclaim')) AS claimed_at,
             min(created_at) FILTER (WHERE metadata ->> 'event' = 'Enqueue') AS enqueued_at
      FROM tasker_workflow_step_transitions GROUP BY workflow_step_uuid)
    SELECT e.from_step_uuid::text AS parent, e.to_step_uuid::text AS child,
           p.completed_at::text AS parent_completed_at, c.completed_at::text AS child_completed_at,
           c.claimed_at::text AS child_claimed_at, c.enqueued_at::text AS child_enqueued_at,
           (c.completed_at IS NOT NULL AND (p.completed_at IS NULL OR c.completed_at < p.completed_at)) AS child_completed_first,
           (c.claimed_at IS NOT NULL AND (p.completed_at IS NULL OR c.claimed_at < p.completed_at)) AS child_claim_stamped_first,
           -- handler start times have millisecond precision
           (SELECT array_agg('#' || r.id || ' attempt ' || r.attempt || ' started ' || r.started_at::text ORDER BY r.id)
            FROM fault_handler_runs r
            WHERE r.step_uuid = e.to_step_uuid
              AND (p.completed_at IS NULL OR r.started_at < date_trunc('milliseconds', p.completed_at))) AS child_runs_first,
           (SELECT min(r.started_at)::text FROM fault_handler_runs r WHERE r.step_uuid = e.to_step_uuid) AS child_first_run_at
    FROM tasker_workflow_step_edges e
    JOIN firsts p ON p.workflow_step_uuid = e.from_step_uuid
    JOIN firsts c ON c.workflow_step_uuid = e.to_step_uuid`
  const runs = yield* sql<{
    id: string
    step_uuid: string
    step_name: string
    attempt: number
    pid: number
    started_at: number
    finished_at: number | null
    outcome: string | null
  }>`
    SELECT id::text, step_uuid::text, step_name, attempt, pid,
           (extract(epoch FROM started_at) * 1000)::float8 AS started_at,
           (extract(epoch FROM finished_at) * 1000)::float8 AS finished_at, outcome
    FROM fault_handler_runs ORDER BY step_uuid, started_at, id`
  const queues = yield* sql<{ queue_name: string; n: number }>`
    SELECT queue_name, count(*)::int AS n FROM tasker_queue_messages GROUP BY queue_name`
  const archive = yield* sql<{ queue_name: string; reason: string | null; dead_letter: boolean; n: number }>`
    SELECT queue_name, regexp_replace(coalesce(reason, ''), '[0-9a-f-]{36}', '<uuid>') AS reason, dead_letter,
           count(*)::int AS n
    FROM tasker_queue_archive GROUP BY 1, 2, 3 ORDER BY 4 DESC`
  const processors = yield* sql<{ pid: number; started_at: number }>`
    SELECT pid, (extract(epoch FROM started_at) * 1000)::float8 AS started_at FROM tasker_processors`
  const audit = yield* auditTransitions
  const half = yield* halfTasks
  return { tasks, steps, edges, runs, queues, archive, processors, audit, half }
})

export type Loaded = Effect.Success<typeof load>

/** Reads everything the checks need (one consistent look at the drained database). */
export const loadFaultRun = load

const first = (problems: ReadonlyArray<string>, n = 10) =>
  problems.length <= n ? problems : [...problems.slice(0, n), `… and ${problems.length - n} more`]

/** The incarnation that was running as `pid` at `at`. */
const incarnationAt = (incarnations: ReadonlyArray<Incarnation>, pid: number, at: number) =>
  incarnations.find((i) =>
    i.pid === pid && i.spawnedAt - 1_000 <= at && at <= (i.killedAt ?? i.exitedAt ?? Number.POSITIVE_INFINITY) + 1_000
  )

type Run = Loaded["runs"][number]

/**
 * Why run `later` of a step happened although run `earlier` had started: the first fault of the nemesis, or the
 * planned failure, that accounts for it; undefined when nothing does.
 */
const explain = (record: FaultRecord, earlier: Run, later: Run): string | undefined => {
  if (earlier.outcome === "failed" && later.attempt > earlier.attempt) return "planned retryable failure"
  const slack = 1_000
  const vtMs = record.visibilityTimeoutSeconds * 1_000
  const incarnation = incarnationAt(record.incarnations, earlier.pid, earlier.started_at)
  if (incarnation !== undefined) {
    const ended = incarnation.killedAt ?? incarnation.exitedAt
    if (ended !== undefined && earlier.started_at - slack <= ended && ended <= later.started_at + slack) {
      return incarnation.killedAt !== undefined ? `${incarnation.role} killed` : `${incarnation.role} exited`
    }
    if (
      incarnation.pauses.some((p) => p.from <= later.started_at + slack && (p.to ?? Number.POSITIVE_INFINITY) >= earlier.started_at - slack)
    ) return "worker paused"
  }
  if (record.dbRestarts.some((d) => d.at <= later.started_at + slack && earlier.started_at <= d.up + 2 * vtMs)) {
    return "database restarted"
  }
  const earlierEnd = earlier.finished_at ?? record.faultsEndedAt
  // a live worker's claim lapsed: it did not extend the visibility timeout in time (a starved process)
  if (earlierEnd - earlier.started_at > vtMs) return "outlived the visibility timeout on a live worker"
  return undefined
}

/** Counts the steps whose handler ran more than once and explains each extra run; the unexplained ones. */
export const rerunStats = (record: FaultRecord, runs: ReadonlyArray<Run>): { stats: RerunStats; unexplained: Array<string> } => {
  const byStep = new Map<string, Array<Run>>()
  for (const run of runs) {
    const list = byStep.get(run.step_uuid) ?? []
    list.push(run)
    byStep.set(run.step_uuid, list)
  }
  const byExplanation: Record<string, number> = {}
  const unexplained: Array<string> = []
  let stepsRunTwiceOrMore = 0
  let extraRuns = 0
  for (const [step, list] of byStep) {
    if (list.length < 2) continue
    stepsRunTwiceOrMore++
    for (let k = 1; k < list.length; k++) {
      extraRuns++
      const later = list[k]!
      // a new run follows a new claim, which the previous claim's run must account for: the earlier runs of the
      // highest attempt so far (several when a database crash made an attempt run again)
      const earlier = list.slice(0, k)
      const previous = Math.max(...earlier.map((r) => r.attempt))
      let why: string | undefined
      for (const run of earlier.filter((r) => r.attempt === previous).reverse()) why ??= explain(record, run, later)
      if (why === undefined) {
        const describe = (r: Run) =>
          `#${r.id} attempt ${r.attempt} pid ${r.pid} ${new Date(r.started_at).toISOString()}..` +
          `${r.finished_at === null ? "?" : new Date(r.finished_at).toISOString()} ${r.outcome ?? "unfinished"}`
        unexplained.push(`step ${step} (${later.step_name}): run ${describe(later)} after ${list.slice(0, k).map(describe).join("; ")}`)
      } else {
        byExplanation[why] = (byExplanation[why] ?? 0) + 1
      }
    }
  }
  return { stats: { runs: runs.length, stepsRunTwiceOrMore, extraRuns, byExplanation }, unexplained }
}

/** Every invariant of the run, each with the problems found. */
export const faultChecks = (
  record: FaultRecord,
  data: Loaded
): {
  checks: Array<Check>
  reruns: RerunStats
  duplicatesOfKeylessRetries: number
  /** claims whose transition is stamped before their parent's completion (see `load`): not a fault */
  claimsStampedEarly: ReadonlyArray<string>
} => {
  const checks: Array<Check> = []
  let duplicatesOfKeylessRetries = 0
  const check = (name: string, problems: ReadonlyArray<string>) => checks.push({ name, problems: first(problems) })
  const planByTag = new Map(record.plan.map((t) => [requestTag(t.index), t]))

  // every accepted request has its task, once per key; no task comes from nowhere
  {
    const problems: Array<string> = []
    const tasksByTag = new Map<string, Array<string>>()
    for (const t of data.tasks) {
      const tag = t.tags.find((x) => planByTag.has(x))
      if (tag === undefined) {
        problems.push(`task ${t.task_uuid} matches no request (tags ${JSON.stringify(t.tags)})`)
        continue
      }
      tasksByTag.set(tag, [...(tasksByTag.get(tag) ?? []), t.task_uuid])
    }
    for (const task of record.plan) {
      const tag = requestTag(task.index)
      const found = tasksByTag.get(tag) ?? []
      const submissions = record.submissions.filter((s) => s.task.index === task.index)
      const answers = submissions.flatMap((s) => s.answers)
      const uuids = new Set(answers.filter(accepted).map((a) => a.uuid!))
      const wasAccepted = submissions.some((s) => s.answers.some(accepted))
      const keyed = task.request.idempotency_key !== undefined
      for (const uuid of uuids) if (!found.includes(uuid)) problems.push(`request ${task.index}: answered task ${uuid}, which does not exist`)
      if (keyed) {
        if (uuids.size > 1) problems.push(`request ${task.index} (keyed): answered with ${uuids.size} different tasks`)
        if (found.length > 1) problems.push(`request ${task.index} (keyed): ${found.length} tasks for one key`)
        if (answers.filter((a) => a.status === "201").length > 1) problems.push(`request ${task.index} (keyed): created twice (two 201s)`)
      } else if (found.length > 1) {
        // a retry without a key after an answer that may have come after the commit creates a second task: the
        // client's choice, not the engine's fault; without such an answer it is one
        if (answers.some(ambiguous)) duplicatesOfKeylessRetries += found.length - 1
        else problems.push(`request ${task.index}: ${found.length} tasks, but no attempt of it failed ambiguously`)
      }
      if (wasAccepted && found.length === 0) problems.push(`request ${task.index}: accepted, but no task exists`)
      if (!wasAccepted) problems.push(`request ${task.index}: never accepted (${answers.map((a) => a.status).join(", ")})`)
    }
    check("every accepted task exists once per key", problems)
  }

  const stepsByTask = new Map<string, Array<Loaded["steps"][number]>>()
  for (const s of data.steps) stepsByTask.set(s.task_uuid, [...(stepsByTask.get(s.task_uuid) ?? []), s])

  // every task ended
  check(
    "every task is terminal",
    data.tasks.filter((t) => !TERMINAL_TASK_STATES.has(t.current_state)).map((t) =>
      `task ${t.task_uuid} (${t.shape}) is ${t.current_state}` +
      (stepsByTask.get(t.task_uuid) ?? []).filter((s) => s.current_state === "error").map((s) =>
        `; step ${s.step_uuid} (${s.name}) error after ${s.attempts}/${s.max_attempts} attempts: ${s.error}`
      ).join("")
    )
  )

  // every completed task's results are exact: every step, not only the final one
  {
    const problems: Array<string> = []
    for (const t of data.tasks.filter((t) => t.current_state === "complete")) {
      const expected = expectedResults(t.shape as FaultShape, t.even_number)
      const steps = stepsByTask.get(t.task_uuid) ?? []
      if (steps.length !== Object.keys(expected).length) problems.push(`task ${t.task_uuid}: ${steps.length} steps`)
      for (const s of steps) {
        if (s.current_state !== "complete" || s.result !== expected[s.name]) {
          problems.push(`task ${t.task_uuid} (${t.shape}, n=${t.even_number}) step ${s.name}: ${s.current_state} ${s.result}, expected ${expected[s.name]}`)
        }
      }
    }
    check("every completed task's result is exact", problems)
  }

  check(
    "no step completed twice",
    data.steps.filter((s) => s.completions > 1).map((s) => `step ${s.step_uuid} (${s.name}) recorded complete ${s.completions} times`)
  )

  check(
    "no step ran or completed before a parent completed",
    data.edges.flatMap((e) => [
      ...(e.child_completed_first
        ? [`step ${e.child} completed at ${e.child_completed_at}, its parent ${e.parent} at ${e.parent_completed_at}`]
        : []),
      ...(e.child_runs_first !== null
        ? [`step ${e.child}: handler runs ${e.child_runs_first.join(", ")}, before its parent ${e.parent} completed at ${e.parent_completed_at}`]
        : [])
    ])
  )

  check(
    "no handler run failed unplanned (a missing or wrong dependency result would)",
    data.runs.filter((r) => r.outcome === "error").map((r) => `step ${r.step_uuid} (${r.step_name}) attempt ${r.attempt} failed`)
  )

  {
    const maxRunAttempt = new Map<string, number>()
    for (const r of data.runs) maxRunAttempt.set(r.step_uuid, Math.max(maxRunAttempt.get(r.step_uuid) ?? 0, r.attempt))
    check(
      "attempts never exceed the limit",
      data.steps.flatMap((s) => {
        const limit = Math.max(s.max_attempts, 1)
        const problems: Array<string> = []
        if (s.attempts > limit) problems.push(`step ${s.step_uuid}: attempts ${s.attempts} > ${limit}`)
        if (s.claims - s.releases > limit) problems.push(`step ${s.step_uuid}: ${s.claims} claims, ${s.releases} releases > ${limit}`)
        if ((maxRunAttempt.get(s.step_uuid) ?? 0) > limit) problems.push(`step ${s.step_uuid}: a handler ran attempt ${maxRunAttempt.get(s.step_uuid)} > ${limit}`)
        return problems
      })
    )
  }

  check("transitions: one current per task and step, equal to its state, each allowed by the state machines", data.audit)
  check("every task whole (its steps, edges and initial transitions)", data.half)

  check(
    "no message left",
    data.queues.map((q) => `${q.n} message(s) left in ${q.queue_name}`)
  )
  check(
    "no dead letter",
    data.archive.filter((a) => a.dead_letter).map((a) => `${a.n} dead letter(s) in ${a.queue_name}: ${a.reason}`)
  )
  check(
    "no step stuck in progress",
    data.steps.filter((s) => s.current_state === "in_progress").map((s) => `step ${s.step_uuid} (${s.name}) is in_progress`)
  )

  {
    // the recorded success came from a handler run of the step's last attempt
    const ok = new Set(data.runs.filter((r) => r.outcome === "ok").map((r) => `${r.step_uuid}/${r.attempt}`))
    check(
      "every success was produced by a recorded handler run of its attempt",
      data.steps.filter((s) => s.current_state === "complete" && !ok.has(`${s.step_uuid}/${s.attempts}`)).map((s) =>
        `step ${s.step_uuid} (${s.name}) complete after attempt ${s.attempts}, but no handler run of that attempt succeeded`
      )
    )
  }

  const { stats, unexplained } = rerunStats(record, data.runs)
  check("every handler re-run explained by a fault", unexplained)

  {
    // a process exits on its own only when its start-up fails; a running one rides out a database restart
    const problems: Array<string> = []
    for (const e of record.exits) {
      const up = e.role === "worker"
        ? e.upAt !== undefined
        : data.processors.some((p) => p.pid === e.pid && p.started_at >= e.spawnedAt - 1_000 && p.started_at <= e.at)
      const duringRestart = record.dbRestarts.some((d) => d.at <= e.at && e.at <= d.up + 30_000)
      if (up || !duringRestart) {
        problems.push(
          `${e.slot} (pid ${e.pid}) exited ${e.code ?? e.signal} ${((e.at - e.spawnedAt) / 1000).toFixed(1)} s after it ` +
            `started, ${up ? "after it was up" : "while starting"}, ${duringRestart ? "during" : "outside"} a database ` +
            `restart: ${e.stderrTail.slice(-400)}`
        )
      }
    }
    check("no process exited on its own, except while starting during a database restart", problems)
  }

  {
    // a run without faults proves nothing: the nemesis must have struck (the window is long enough for all of it)
    const kills = record.incarnations.filter((i) => i.killedAt !== undefined)
    const problems: Array<string> = []
    if (record.dbRestarts.length !== record.plannedDbRestarts) {
      problems.push(`${record.dbRestarts.length} database restarts, ${record.plannedDbRestarts} planned`)
    }
    if (!kills.some((i) => i.role === "worker")) problems.push("no worker was killed")
    if (!kills.some((i) => i.role === "orchestrator")) problems.push("no orchestrator was killed")
    if (!record.incarnations.some((i) => i.pauses.length > 0)) problems.push("no worker was paused")
    if (!record.incarnations.some((i) => i.killedAt !== undefined && data.runs.some((r) => r.pid === i.pid && r.finished_at === null))) {
      problems.push("no kill interrupted a handler")
    }
    check(
      "the nemesis struck: workers and orchestrators killed, a worker paused, the database restarted",
      record.requireEveryFault ? problems : []
    )
  }

  check(
    "the API answered only 201, 200 or 503",
    record.submissions.flatMap((s) =>
      s.answers.filter((a) => /^\d+$/.test(a.status) && !["201", "200", "503"].includes(a.status)).map((a) =>
        `request ${s.task.index}: ${a.status}`
      )
    )
  )

  const claimsStampedEarly = data.edges.filter((e) => e.child_claim_stamped_first).map((e) =>
    `step ${e.child} claimed at ${e.child_claimed_at}, parent completed at ${e.parent_completed_at}, ` +
    `step enqueued at ${e.child_enqueued_at}, first handler run at ${e.child_first_run_at}`
  )
  return { checks, reruns: stats, duplicatesOfKeylessRetries, claimsStampedEarly }
}
