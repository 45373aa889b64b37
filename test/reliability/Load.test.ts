/**
 * Load: 2 orchestrator processes, 3 worker processes hosting the example templates and an API process, all on one
 * fresh PostgreSQL database. 2 000 tasks across the linear, diamond, tree and mixed-DAG examples are submitted
 * through the API, at most 50 requests in flight (keep-alive connections). Every task must complete, the audit of
 * the transition tables must be clean (no illegal transition, no step completed twice, nothing left unfinished),
 * and each task's final step must hold the value its template computes from `even_number`.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Running } from "../cli/Support.ts"
import { type Cluster, cluster, eventually, fullAudit, stateCounts, type TaskRequest } from "./Support.ts"

const TASKS = 2_000
const IN_FLIGHT = 50
/**
 * The whole run (submission and completion) must fit in this. On this 2-core machine, shared with other suites,
 * a run takes 60-100 s; the cap leaves room for a busy machine while keeping the file near 2 minutes.
 */
const DEADLINE_MS = 120_000
/** Lost work shows as no task completing for this long (the run fails at once, with a diagnosis). */
const STALL_MS = 30_000

/** The examples of the run: each template, its final step, and the exponent k of the final value n^k. */
const TEMPLATES = [
  { namespace: "rust_e2e_linear", name: "mathematical_sequence", final: "linear_step_4", exponent: 16n },
  { namespace: "rust_e2e_diamond", name: "diamond_pattern", final: "diamond_end", exponent: 16n },
  { namespace: "rust_e2e_tree", name: "hierarchical_tree", final: "tree_final_convergence", exponent: 64n },
  { namespace: "rust_e2e_mixed_dag", name: "complex_dag", final: "dag_finalize", exponent: 64n }
] as const

/** Task `i`: the templates in turn, even numbers 2..100 in turn, a unique idempotency key. */
const requestOf = (i: number): TaskRequest => {
  const template = TEMPLATES[i % TEMPLATES.length]!
  return {
    namespace: template.namespace,
    name: template.name,
    version: "1.0.0",
    context: { even_number: 2 * (1 + (i % 50)) },
    idempotency_key: `load-${i}`
  }
}

/** The example templates next to the harness's fixture module; the workers consume the four math queues only. */
const EXAMPLES = ["--templates", "examples"]
const MATH_QUEUES = TEMPLATES.flatMap((t) => ["--namespace", t.namespace])
/**
 * A bigger pool than the harness default (the API answers 50 concurrent requests, the workers run 10 steps each),
 * and a slower poll: notifications wake the loops, so polling every 200 ms would only add idle queries.
 */
const ENV = { TASKER_DB_MAX_CONNECTIONS: "8", TASKER_POLL_INTERVAL_MS: "1000" }

let c: Cluster
let processes: Array<Running> = []
let api = ""

beforeAll(async () => {
  c = await cluster()
  const [o1, o2, w1, w2, w3, a] = await Promise.all([
    c.orchestrator(ENV),
    c.orchestrator(ENV),
    c.worker(ENV, [...EXAMPLES, ...MATH_QUEUES]),
    c.worker(ENV, [...EXAMPLES, ...MATH_QUEUES]),
    c.worker(ENV, [...EXAMPLES, ...MATH_QUEUES]),
    c.api("api", ENV, EXAMPLES)
  ])
  processes = [o1, o2, w1, w2, w3, a.process]
  api = a.url
}, 120_000)

afterAll(async () => {
  await c?.close()
}, 60_000)

/**
 * `POST /v1/tasks` with `request`; the new task's uuid (anything but 201 fails the run). Node's `fetch` keeps its
 * connections alive and reuses them, so the 50 lanes share about 50 connections.
 */
const submit = async (request: TaskRequest): Promise<string> => {
  const response = await fetch(`${api}/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request)
  })
  const body = await response.text()
  if (response.status !== 201) throw new Error(`POST /v1/tasks answered ${response.status}: ${body}`)
  return (JSON.parse(body) as { task_uuid: string }).task_uuid
}

/** Runs `f(0..count-1)` with at most `limit` calls in flight; the results in order. */
const bounded = async <A>(count: number, limit: number, f: (i: number) => Promise<A>): Promise<Array<A>> => {
  const results = new Array<A>(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      results[i] = await f(i)
    }
  }
  await Promise.all(Array.from({ length: limit }, lane))
  return results
}

const finalResults = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ task_uuid: string; namespace: string; even_number: number; step: string; result: string | null; current_state: string }>`
    SELECT t.task_uuid::text, tn.name AS namespace, (t.context ->> 'even_number')::int AS even_number,
           ns.name AS step, ws.results ->> 'result' AS result, ws.current_state
    FROM tasker_tasks t
    JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
    JOIN tasker_task_namespaces tn ON tn.task_namespace_uuid = nt.task_namespace_uuid
    JOIN tasker_workflow_steps ws ON ws.task_uuid = t.task_uuid
    JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
    WHERE ns.name IN ('linear_step_4', 'diamond_end', 'tree_final_convergence', 'dag_finalize')`
})

/** Where the unfinished work is: step states, queue depths. */
const diagnosis = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const steps = yield* sql<{ current_state: string; n: number }>`
    SELECT current_state, count(*)::int AS n FROM tasker_workflow_steps GROUP BY current_state`
  const queues = yield* sql<{ queue_name: string; n: number; read: number }>`
    SELECT queue_name, count(*)::int AS n, count(*) FILTER (WHERE read_ct > 0)::int AS read
    FROM tasker_queue_messages GROUP BY queue_name`
  return { steps, queues }
})

describe("load", () => {
  it(`${TASKS} tasks over 2 orchestrators and 3 workers all complete, with a clean audit and correct results`, async () => {
    const started = Date.now()
    const uuids = await bounded(TASKS, IN_FLIGHT, (i) => submit(requestOf(i)))
    const submitted = Date.now()
    expect(new Set(uuids).size).toBe(TASKS)

    let counts: Record<string, number> = {}
    // progress every 5 s, for the failure message
    const timeline: Array<string> = []
    let sampled = 0
    let lastComplete = -1
    let lastProgress = Date.now()
    await eventually(
      `all ${TASKS} tasks complete`,
      async () => {
        counts = await c.sql(stateCounts)
        const complete = counts["complete"] ?? 0
        const now = Date.now()
        if (now - sampled >= 5_000) {
          sampled = now
          timeline.push(`${((now - started) / 1000).toFixed(0)}s: ${complete}`)
        }
        const bad = Object.keys(counts).filter((s) => s === "error" || s === "blocked_by_failures" || s === "cancelled")
        if (bad.length > 0) throw new Error(`tasks ended badly`)
        if (complete > lastComplete) {
          lastComplete = complete
          lastProgress = now
        } else if (now - lastProgress > STALL_MS) {
          throw new Error(`no task completed for ${STALL_MS} ms`)
        }
        return complete === TASKS
      },
      DEADLINE_MS - (submitted - started)
    ).catch(async (e: Error) => {
      const detail = await c.sql(diagnosis)
      throw new Error(
        `${e.message}; states: ${JSON.stringify(counts)}; complete over time: ${timeline.join(", ")}; ` +
          JSON.stringify(detail)
      )
    })
    const finished = Date.now()
    const seconds = (finished - started) / 1000
    console.log(
      `load: ${TASKS} tasks submitted in ${((submitted - started) / 1000).toFixed(1)} s, all complete after ` +
        `${seconds.toFixed(1)} s (${(TASKS / seconds).toFixed(0)} tasks/s end to end)`
    )

    // no process died under load
    for (const p of processes) expect(p.child.exitCode, p.stderr().slice(-2000)).toBeNull()

    expect(await c.sql(fullAudit)).toEqual([])

    const rows = await c.sql(finalResults)
    expect(rows).toHaveLength(TASKS)
    const wrong = rows.flatMap((row) => {
      const template = TEMPLATES.find((t) => t.namespace === row.namespace)!
      const expected = (BigInt(row.even_number) ** template.exponent).toString()
      return row.step === template.final && row.current_state === "complete" && row.result === expected ? [] : [{ ...row, expected }]
    })
    expect(wrong.slice(0, 5)).toEqual([])
    expect(new Set(rows.map((r) => r.task_uuid))).toEqual(new Set(uuids))
  })
})
