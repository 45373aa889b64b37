/**
 * The metrics against a real Prometheus (issue 14). On fresh PostgreSQL databases, the engine's roles run as
 * `tasker` processes, a real `prometheus` (from PATH) scrapes every one of them each second with the alert rules of
 * ops/prometheus/alerts.yml loaded, a workload of example tasks (failing ones included) runs, and then:
 *
 * - every PromQL expression of docs/observability/promql.md (read from its ```promql blocks, so the document and
 *   this test cannot drift apart) and every panel query of ops/grafana/dashboards/tasker.json is evaluated through
 *   `/api/v1/query`, and must be accepted, return data (or the empty result named below), and the value the
 *   workload fixes where it fixes one;
 * - every alert rule evaluates without error, and the ones the workload triggers are pending;
 * - `promtool check rules` and `promtool test rules` pass on the rule files.
 *
 * Two deployments, because promql.md has queries for both settings of `TASKER_METRICS_CORRELATION`:
 * - "fleet" (correlation off, as the dashboard and the rate queries assume): the processes of `FLEET` below;
 * - "single" (correlation on, the default): one `tasker serve` with every role, for the "With correlation on" and
 *   "One task" sections, on its own database and with its own Prometheus.
 *
 * `prometheus` and `promtool` must be on PATH (Debian: `apt-get install prometheus`); without them this file fails
 * with that message rather than skipping.
 */
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { databases, root, run, type Running, start } from "../cli/Support.ts"
import {
  dashboardQueries,
  type PrometheusServer,
  promqlExpressions,
  promtool,
  type QueryResult,
  readRepoFile,
  requireOnPath,
  type Sample,
  startPrometheus,
  substituteGrafanaVariables
} from "./PrometheusServer.ts"

// ---------------------------------------------------------------------------------------------------------------
// THE PROCESSES OF THE FLEET — the one place to change when the roles change.
//
// The orchestration loops run in `tasker orchestrator --health-port 0`, whose health server serves /metrics;
// `BANNER` matches its banner ("tasker orchestrator health: http://127.0.0.1:N/health").
// The job names are those of ops/prometheus/prometheus.yml (alerts.yml's TaskerNoLiveOrchestrator needs
// "tasker-orchestrator").
//
// Each namespace has one worker. A process's counter series appears at its first value, which rate() cannot see;
// with one worker per namespace, the second wave raises the series the first wave created in that same process,
// so every per-namespace rate below is > 0 (with both workers hosting everything, which worker finishes a given
// task type in each wave is chance, and a rate can come out 0).
// ---------------------------------------------------------------------------------------------------------------
const FLEET: ReadonlyArray<{ readonly job: string; readonly args: ReadonlyArray<string> }> = [
  { job: "tasker-orchestrator", args: ["orchestrator", "--health-port", "0"] },
  {
    job: "tasker-worker",
    args: ["worker", "--namespace", "rust_e2e_linear", "--namespace", "rust_e2e_diamond", "--health-port", "0"]
  },
  { job: "tasker-worker", args: ["worker", "--namespace", "test_errors", "--health-port", "0"] },
  { job: "tasker-api", args: ["serve", "--roles", "api", "--port", "0"] }
]
/** The base URL a process prints once it listens: `tasker API: URL`, `tasker worker health: URL/health`, … */
const BANNER = /^tasker [\w ]+: (http:\/\/127\.0\.0\.1:\d+)/m

const FAST_SAMPLING = { TASKER_METRICS_SAMPLE_INTERVAL_MS: "1000", LOG_FORMAT: "json" }
const FLEET_ENV = { ...FAST_SAMPLING, TASKER_METRICS_CORRELATION: "false" }
// correlation on (the default); the janitor's sweep far beyond the test, so the per-task series stay
const SINGLE_ENV = { ...FAST_SAMPLING, OTEL_METRIC_EXPORT_INTERVAL: "600000" }

const ALERTS = "ops/prometheus/alerts.yml"
const ALERT_TESTS = "ops/prometheus/alerts.test.yml"

// ---------------------------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------------------------

interface Kind {
  readonly namespace: string
  readonly name: string
  readonly context: object
  readonly status: "complete" | "blocked_by_failures"
  /** handler runs (attempts) of one task */
  readonly executions: number
  /** failed handler runs of one task, by error_type */
  readonly failures: Readonly<Record<string, number>>
}

const KINDS: ReadonlyArray<Kind> = [
  { namespace: "rust_e2e_linear", name: "mathematical_sequence", context: { even_number: 6 }, status: "complete", executions: 4, failures: {} },
  { namespace: "rust_e2e_diamond", name: "diamond_pattern", context: { even_number: 6 }, status: "complete", executions: 4, failures: {} },
  { namespace: "test_errors", name: "success_only", context: {}, status: "complete", executions: 1, failures: {} },
  { namespace: "test_errors", name: "retryable_error_success", context: {}, status: "complete", executions: 2, failures: { RetryableError: 1 } },
  { namespace: "test_errors", name: "permanent_error_only", context: {}, status: "blocked_by_failures", executions: 1, failures: { PermanentError: 1 } },
  { namespace: "test_errors", name: "retryable_error_exhausted", context: {}, status: "blocked_by_failures", executions: 2, failures: { RetryableError: 2 } }
]
/** The fleet gets every kind in each of two waves: the second wave moves series the first one created. */
const WAVES = 2

const sumOf = (f: (k: Kind) => number) => WAVES * KINDS.reduce((n, k) => n + f(k), 0)
const EXPECTED = {
  requests: WAVES * KINDS.length,
  completed: sumOf((k) => (k.status === "complete" ? 1 : 0)),
  blocked: sumOf((k) => (k.status === "blocked_by_failures" ? 1 : 0)),
  executions: sumOf((k) => k.executions),
  failuresByType: Object.fromEntries(
    ["PermanentError", "RetryableError"].map((t) => [t, sumOf((k) => k.failures[t] ?? 0)])
  ) as Record<string, number>,
  namespaces: [...new Set(KINDS.map((k) => k.namespace))].sort()
}

/** `POST /v1/tasks` (a unique idempotency key, so equal contexts make distinct tasks), then waits for the end. */
const runTask = async (api: string, kind: Kind) => {
  const created = await fetch(`${api}/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      namespace: kind.namespace,
      name: kind.name,
      version: "1.0.0",
      context: kind.context,
      idempotency_key: randomUUID()
    })
  })
  expect(created.status, await created.clone().text()).toBe(201)
  const task = (await created.json()) as { task_uuid: string; correlation_id: string }
  const waited = await fetch(`${api}/v1/tasks/${task.task_uuid}/wait?timeout_ms=30000`)
  const result = (await waited.json()) as { finished: boolean; task: { status: string } }
  expect(result, `${kind.namespace}/${kind.name}`).toMatchObject({ finished: true, task: { status: kind.status } })
  return task
}

// ---------------------------------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------------------------------

const values = (r: QueryResult) => r.samples.map((s) => s.value)
const single = (r: QueryResult): number => {
  expect(r.samples, "one sample").toHaveLength(1)
  return r.samples[0]!.value
}
const byLabel = (r: QueryResult, label: string): Record<string, number> =>
  Object.fromEntries(r.samples.map((s) => [s.metric[label] ?? "", s.value]))
const labelSet = (r: QueryResult, label: string) => r.samples.map((s) => s.metric[label] ?? "").sort()
const finiteNonNegative = (r: QueryResult) => {
  for (const v of values(r)) {
    expect(Number.isFinite(v), `${v} is finite`).toBe(true)
    expect(v).toBeGreaterThanOrEqual(0)
  }
}
/** some values of a rate over per-query-type series may be 0/0 (a function called once): NaN, never negative */
const nonNegativeOrNaN = (r: QueryResult) => {
  for (const v of values(r)) expect(Number.isNaN(v) || v >= 0, `${v} ≥ 0 or NaN`).toBe(true)
}
const positive = (v: number) => {
  expect(Number.isFinite(v), `${v} is finite`).toBe(true)
  expect(v).toBeGreaterThan(0)
}
const ratio = (v: number) => {
  expect(Number.isFinite(v), `${v} is finite`).toBe(true)
  expect(v).toBeGreaterThanOrEqual(0)
  expect(v).toBeLessThanOrEqual(1)
}
/** the label values of the samples that are not 0 (series created at 0, before their first event, left out) */
const nonZeroLabelSet = (r: QueryResult, label: string) =>
  r.samples.filter((s) => s.value !== 0).map((s) => s.metric[label] ?? "").sort()
/** the samples without a 0 value, by label: exact counts that series created at 0 must not disturb */
const nonZeroByLabel = (r: QueryResult, label: string) =>
  Object.fromEntries(Object.entries(byLabel(r, label)).filter(([, v]) => v !== 0))
/**
 * `expected` label values are all there and pass `check`; any other one (a series that exists before its first
 * event, e.g. a counter created at 0) is 0, or NaN for a ratio or quantile of nothing (0/0)
 */
const perLabel = (r: QueryResult, label: string, expected: ReadonlyArray<string>, check: (v: number) => void) => {
  const got = byLabel(r, label)
  for (const l of expected) {
    expect(got[l], `${label}="${l}"`).toBeDefined()
    check(got[l]!)
  }
  for (const [l, v] of Object.entries(got)) {
    if (!expected.includes(l)) expect(v === 0 || Number.isNaN(v), `${label}="${l}": ${v} is 0 or NaN`).toBe(true)
  }
}
const finite = (v: number) => {
  expect(Number.isFinite(v), `${v} is finite`).toBe(true)
  expect(v).toBeGreaterThanOrEqual(0)
}
/** nothing happened: no series, or series that are all 0 (counters that start at 0) */
const emptyOrZero = (r: QueryResult) => {
  for (const v of values(r)) expect(v).toBe(0)
}

interface Rule {
  /** what the expression must look like for this rule to apply (the first matching rule applies) */
  readonly match: RegExp
  /** an empty result is accepted (and then `check` is not run) */
  readonly mayBeEmpty?: boolean
  readonly check: (r: QueryResult) => void
}

/**
 * What each expression of promql.md must return after the workload. An expression no rule matches must return
 * data, every value finite and ≥ 0. Every rule must match some expression (a stale rule fails the test).
 */
const DOC_RULES: ReadonlyArray<Rule> = [
  // --- fleet, correlation off: rates over the two waves ---
  { match: /^sum\(rate\(tasker_tasks_requests_total\[5m\]\)\) \* 60$/, check: (r) => positive(single(r)) },
  {
    match: /rate\(tasker_tasks_completions_total\[5m\]\)\) \* 60$/,
    check: (r) => perLabel(r, "namespace", EXPECTED.namespaces, positive)
  },
  {
    match: /^sum by \(namespace\) \(rate\(tasker_steps_executions_total\[5m\]\)\)$/,
    check: (r) => perLabel(r, "namespace", EXPECTED.namespaces, positive)
  },
  {
    // the task success ratio: some tasks of each wave fail, most complete
    match: /tasker_tasks_completions_total.*\/.*tasker_tasks_failures_total/,
    check: (r) => {
      const v = single(r)
      ratio(v)
      expect(v).toBeGreaterThan(0)
      expect(v).toBeLessThan(1)
    }
  },
  {
    // the step failure ratio: test_errors fails; the other namespaces do not (absent today, 0 once ratios return 0)
    match: /rate\(tasker_steps_failures_total\[5m\]\).*\/.*tasker_steps_executions_total/,
    check: (r) =>
      perLabel(r, "namespace", ["test_errors"], (v) => {
        expect(v).toBeGreaterThan(0)
        expect(v).toBeLessThan(1)
      })
  },
  {
    match: /^topk\(5, sum by \(error_type\) \(increase\(tasker_steps_failures_total\[1h\]\)\)\)$/,
    check: (r) => perLabel(r, "error_type", Object.keys(EXPECTED.failuresByType), positive)
  },
  {
    match: /^sum by \(retryable\) \(rate\(tasker_steps_failures_total/,
    check: (r) => perLabel(r, "retryable", ["false", "true"], positive)
  },
  {
    match: /histogram_quantile\(0\.95, sum by \(le, namespace\) \(rate\(tasker_step_execution_duration_bucket/,
    check: (r) => perLabel(r, "namespace", EXPECTED.namespaces, finite)
  },
  {
    match: /histogram_quantile\(0\.95, sum by \(le, result_type\) \(rate\(tasker_step_result_submission_duration_bucket/,
    check: (r) => {
      expect(labelSet(r, "result_type")).toContain("processed")
      finiteNonNegative(r)
    }
  },
  {
    match: /histogram_quantile\(0\.95, sum by \(le, queue\) \(rate\(tasker_message_latency_bucket/,
    check: (r) => {
      for (const ns of EXPECTED.namespaces) expect(labelSet(r, "queue")).toContain(`worker_${ns}_queue`)
      finiteNonNegative(r)
    }
  },
  {
    match: /^sum\(rate\(tasker_step_execution_duration_sum\[5m\]\)\) \/ sum\(rate\(tasker_step_execution_duration_count/,
    check: (r) => positive(single(r))
  },
  {
    // per SQL function: the engine's main calls are there; a function called once has a 0/0 rate ratio (NaN)
    match: /tasker_sql_query_duration_sum.*\/.*tasker_sql_query_duration_count/,
    check: (r) => {
      const means = byLabel(r, "query_type")
      for (const fn of ["tasker_create_task", "tasker_claim_step_messages"]) {
        expect(Number.isFinite(means[fn]), `${fn}: ${means[fn]}`).toBe(true)
      }
      // workers submit results in batches (tasker_submit_step_results), one at a time otherwise
      const submit = means["tasker_submit_step_results"] ?? means["tasker_submit_step_result"]
      expect(Number.isFinite(submit), `tasker_submit_step_result(s): ${submit}`).toBe(true)
      nonNegativeOrNaN(r)
    }
  },
  {
    match: /histogram_quantile\(0\.99, sum by \(le, query_type\) \(rate\(tasker_sql_query_duration_bucket/,
    check: (r) => {
      expect(labelSet(r, "query_type")).toContain("tasker_claim_step_messages")
      nonNegativeOrNaN(r)
    }
  },
  {
    // SQL error ratio: no error series today (no data); a ratio in [0, 1] once ratios return 0
    match: /tasker_sql_queries_total\{result="error"\}/,
    mayBeEmpty: true,
    check: (r) => ratio(single(r))
  },
  { match: /tasker_db_connection_errors_total/, mayBeEmpty: true, check: emptyOrZero },
  {
    match: /^sum by \(claim_method\) \(rate\(tasker_steps_claimed_total/,
    check: (r) => {
      // handoff: a step claimed by its parent's result submission (src/worker/Worker.ts)
      for (const m of labelSet(r, "claim_method")) expect(["event", "handoff", "poll"]).toContain(m)
      finiteNonNegative(r)
      expect(Math.max(...values(r))).toBeGreaterThan(0)
    }
  },
  {
    // every step has finished: nothing runs
    match: /^sum by \(namespace\) \(tasker_steps_active_executions\)$/,
    check: (r) => perLabel(r, "namespace", EXPECTED.namespaces, (v) => expect(v).toBe(0))
  },
  { match: /reason="dead_lettered"/, mayBeEmpty: true, check: emptyOrZero },
  { match: /tasker_messages_receive_failures_total/, mayBeEmpty: true, check: emptyOrZero },

  // --- fleet: the sampled gauges ---
  {
    match: /^max by \(state\) \(tasker_tasks_active\)$/,
    check: (r) => {
      const states = byLabel(r, "state")
      expect(Object.keys(states).sort()).toEqual([
        "blocked_by_failures",
        "enqueuing_steps",
        "evaluating_results",
        "initializing",
        "pending",
        "steps_in_process",
        "waiting_for_dependencies",
        "waiting_for_retry"
      ])
      expect(states).toMatchObject({ blocked_by_failures: EXPECTED.blocked, steps_in_process: 0, pending: 0 })
    }
  },
  {
    match: /^max\(tasker_tasks_active\{state="blocked_by_failures"\}\)$/,
    check: (r) => expect(single(r)).toBe(EXPECTED.blocked)
  },
  {
    match: /^max by \(queue\) \(tasker_queue_depth\)$/,
    check: (r) => {
      const queues = labelSet(r, "queue")
      expect(queues).toContain("orchestration_step_results_queue")
      for (const ns of EXPECTED.namespaces) expect(queues).toContain(`worker_${ns}_queue`)
      finiteNonNegative(r)
    }
  },
  {
    match: /^max by \(queue\) \(tasker_queue_oldest_message_age\) \/ 1000$/,
    check: (r) => {
      expect(labelSet(r, "queue")).toContain("orchestration_step_results_queue")
      finiteNonNegative(r)
    }
  },
  {
    match: /^max by \(namespace\) \(tasker_steps_ready\)$/,
    check: (r) => {
      for (const ns of EXPECTED.namespaces) expect(labelSet(r, "namespace")).toContain(ns)
      emptyOrZero(r)
    }
  },
  {
    match: /^max by \(application_name, state\) \(tasker_db_pool_connections\)$/,
    check: (r) => {
      const active = r.samples.find((s) => s.metric.application_name === "tasker-effect" && s.metric.state === "active")
      expect(active?.value, "the sampler's own session is active").toBeGreaterThanOrEqual(1)
      finiteNonNegative(r)
    }
  },

  // --- single process, correlation on (SINGLE_KINDS: 3 tasks, 1 of them failing) ---
  {
    match: /^count\(count_over_time\(tasker_tasks_requests_total\{correlation_id!=""\}\[5m\]\) unless tasker_tasks_requests_total offset 5m\) or vector\(0\)$/,
    check: (r) => expect(single(r)).toBe(SINGLE_KINDS.length)
  },
  {
    match: /^count\(count_over_time\(tasker_tasks_failures_total\{correlation_id!=""\}\[5m\]\) unless tasker_tasks_failures_total offset 5m\) or vector\(0\)$/,
    check: (r) => expect(single(r)).toBe(SINGLE_KINDS.filter((k) => k.status !== "complete").length)
  },

  // --- one task: ONE_TASK, a retryable_error_success task (attempt 1 fails, attempt 2 succeeds) ---
  {
    match: /^count by \(__name__\) \(\{correlation_id="<id>"\}\)$/,
    check: (r) => {
      const names = labelSet(r, "__name__")
      for (const name of [
        "tasker_tasks_requests_total",
        "tasker_tasks_completions_total",
        "tasker_steps_executions_total",
        "tasker_steps_successes_total",
        "tasker_steps_failures_total"
      ]) expect(names).toContain(name)
      // only the per-task counters carry the label: no histogram, gauge or SQL/messaging series
      for (const name of names) expect(name).toMatch(/_total$/)
      values(r).forEach(positive)
    }
  },
  {
    match: /^sum\(tasker_steps_executions_total\{correlation_id="<id>"\}\)$/,
    check: (r) => expect(single(r)).toBe(ONE_TASK.executions)
  },
  {
    match: /^sum by \(step_name\) \(tasker_steps_successes_total\{correlation_id="<id>"\}\)$/,
    check: (r) => expect(byLabel(r, "step_name")).toEqual({ retryable_then_success_step: 1 })
  },
  {
    match: /^sum by \(step_name, error_type\) \(tasker_steps_failures_total\{correlation_id="<id>"\}\)$/,
    check: (r) => {
      expect(r.samples.map((s) => ({ ...s.metric }))).toEqual([
        { step_name: "retryable_then_success_step", error_type: "RetryableError" }
      ])
      expect(single(r)).toBe(1)
    }
  },
  {
    match: /^sum by \(result_type\) \(tasker_steps_results_processed_total\{correlation_id="<id>"\}\)$/,
    check: (r) => {
      expect(byLabel(r, "result_type")["success"]).toBe(1)
      // one result applied per attempt
      expect(values(r).reduce((a, b) => a + b, 0)).toBe(ONE_TASK.executions)
    }
  }
]

/** The correlation-on process's workload; the first kind is the one-task section's task. */
const ONE_TASK = KINDS.find((k) => k.name === "retryable_error_success")!
const SINGLE_KINDS: ReadonlyArray<Kind> = [
  ONE_TASK,
  KINDS.find((k) => k.name === "mathematical_sequence")!,
  KINDS.find((k) => k.name === "permanent_error_only")!
]

/** promql.md's sections and the deployment their queries are for. */
const SECTION_TARGET: Readonly<Record<string, "fleet" | "single">> = {
  "Rates and ratios (correlation off)": "fleet",
  "Gauges": "fleet",
  "With correlation on": "single",
  "One task": "single"
}

/**
 * The dashboard's panels, by title, where the workload fixes more than "returns data, every value finite and
 * ≥ 0" (the default).
 */
const PANEL_RULES: Readonly<Record<string, Omit<Rule, "match">>> = {
  "Tasks per minute: requested, completed, failed": { check: (r) => positive(single(r)) },
  "Task success ratio (1 h)": {
    check: (r) => {
      const v = single(r)
      expect(v).toBeGreaterThan(0)
      expect(v).toBeLessThan(1)
    }
  },
  "Tasks requested (1 h)": { check: (r) => positive(single(r)) },
  "Top error types (1 h)": {
    check: (r) => expect(nonZeroLabelSet(r, "error_type")).toEqual(Object.keys(EXPECTED.failuresByType).sort())
  },
  "Step failure ratio by namespace": {
    check: (r) => perLabel(r, "namespace", ["test_errors"], (v) => expect(v).toBeGreaterThan(0))
  },
  "Step failures by error type and retryability": {
    check: (r) => {
      expect(r.samples.filter((s) => s.value !== 0).map((s) => `${s.metric.error_type}/${s.metric.retryable}`).sort()).toEqual(
        ["PermanentError/false", "RetryableError/true"]
      )
    }
  },
  "Task failures by final state": {
    check: (r) => expect(nonZeroLabelSet(r, "error_type")).toEqual(["blocked_by_failures"])
  },
  "Blocked tasks": { check: (r) => expect(single(r)).toBe(EXPECTED.blocked) },
  "Tasks by state": { check: (r) => expect(byLabel(r, "state")["blocked_by_failures"]).toBe(EXPECTED.blocked) },
  "Live processes by role": {
    check: (r) => {
      const expected: Record<string, number> = {}
      for (const p of FLEET) expected[p.job] = (expected[p.job] ?? 0) + 1
      expect(byLabel(r, "job")).toEqual(expected)
    }
  },
  "Steps running now": { check: emptyOrZero },
  "Dead-lettered results (24 h)": { mayBeEmpty: true, check: emptyOrZero },
  "Result messages failing to apply (rate)": { check: emptyOrZero },
  "Tasks created without a live worker (1 h)": { mayBeEmpty: true, check: emptyOrZero },
  "Connection errors": { mayBeEmpty: true, check: emptyOrZero },
  "SQL error ratio": { check: (r) => ratio(single(r)) },
  "SQL mean duration by function": { check: nonNegativeOrNaN },
  "SQL p99 by function": { check: nonNegativeOrNaN },
  "Transaction p95 by type": { check: nonNegativeOrNaN },
  "Database sessions by application_name and state": { check: finiteNonNegative }
}

/** Runs a rule (or the default) on one query's result, naming the query in the failure. */
const assertResult = (label: string, expr: string, result: QueryResult, rule: Omit<Rule, "match"> | undefined) => {
  try {
    if (result.samples.length === 0) {
      expect(rule?.mayBeEmpty ?? false, "an empty result").toBe(true)
      return
    }
    if (rule === undefined) finiteNonNegative(result)
    else rule.check(result)
  } catch (e) {
    const samples = result.samples.map((s: Sample) => `${JSON.stringify(s.metric)} ${s.value}`).join("\n  ")
    throw new Error(`${label}\n  ${expr}\nreturned:\n  ${samples || "(no data)"}\n${(e as Error).message}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Set-up: two databases, the processes, two Prometheus servers, the workload
// ---------------------------------------------------------------------------------------------------------------

const db = databases()
const processes: Array<Running> = []
const servers: Array<PrometheusServer> = []
let fleetPrometheus: PrometheusServer
let singlePrometheus: PrometheusServer
let oneTaskId = ""

/** Starts `tasker …args` on `url` and resolves with its base URL, read from its banner. */
const launch = async (args: ReadonlyArray<string>, url: string, env: Record<string, string>) => {
  const p = start(args, { env: { DATABASE_URL: url, ...env }, timeout: 180_000 })
  processes.push(p)
  return (await p.waitForStdout(BANNER, 60_000))[1]!
}

const migrated = async () => {
  const url = await db.create()
  const result = await run(["migrate"], { env: { DATABASE_URL: url } })
  expect(result.code, result.stderr).toBe(0)
  return url
}

const hostPort = (base: string) => new URL(base).host

beforeAll(async () => {
  // fail here, with what to install, rather than skip
  requireOnPath("prometheus")
  requireOnPath("promtool")
  const [fleetDb, singleDb] = await Promise.all([migrated(), migrated()])
  const [fleetUrls, singleUrl] = await Promise.all([
    Promise.all(FLEET.map((p) => launch(p.args, fleetDb, FLEET_ENV))),
    launch(["serve", "--port", "0"], singleDb, SINGLE_ENV)
  ])
  const jobs: Record<string, Array<string>> = {}
  FLEET.forEach((p, i) => (jobs[p.job] ??= []).push(hostPort(fleetUrls[i]!)))
  const ruleFiles = [`${root}${ALERTS}`]
  ;[fleetPrometheus, singlePrometheus] = await Promise.all([
    startPrometheus({ jobs, ruleFiles }),
    startPrometheus({ jobs: { "tasker-serve": [hostPort(singleUrl)] }, ruleFiles })
  ])
  servers.push(fleetPrometheus, singlePrometheus)
  await fleetPrometheus.waitFor("count(up == 1)", (r) => r.samples[0]?.value === FLEET.length)
  await singlePrometheus.waitFor("count(up == 1)", (r) => r.samples[0]?.value === 1)

  const fleetApi = fleetUrls[FLEET.findIndex((p) => p.job === "tasker-api")]!
  const sumIs = (expected: number) => (r: QueryResult) => r.samples[0]?.value === expected
  const oneWave = () => Promise.all(KINDS.map((k) => runTask(fleetApi, k)))
  const [, singleTasks] = await Promise.all([
    (async () => {
      await oneWave()
      // wave 1 scraped (and scraped again), so wave 2 raises series Prometheus already has
      await fleetPrometheus.waitFor("sum(tasker_tasks_requests_total)", sumIs(KINDS.length))
      await new Promise((r) => setTimeout(r, 2_000))
      for (let wave = 1; wave < WAVES; wave++) await oneWave()
    })(),
    Promise.all(SINGLE_KINDS.map((k) => runTask(singleUrl, k)))
  ])
  oneTaskId = singleTasks[0]!.correlation_id

  // everything counted and sampled
  await fleetPrometheus.waitFor("sum(tasker_tasks_requests_total)", sumIs(EXPECTED.requests))
  await fleetPrometheus.waitFor("sum(tasker_tasks_completions_total)", sumIs(EXPECTED.completed))
  await fleetPrometheus.waitFor("sum(tasker_tasks_failures_total)", sumIs(EXPECTED.blocked))
  await fleetPrometheus.waitFor("sum(tasker_steps_executions_total)", sumIs(EXPECTED.executions))
  await fleetPrometheus.waitFor('max(tasker_tasks_active{state="blocked_by_failures"})', sumIs(EXPECTED.blocked))
  await fleetPrometheus.waitFor("max(tasker_steps_ready)", sumIs(0))
  await singlePrometheus.waitFor(
    `sum(tasker_steps_executions_total{correlation_id="${oneTaskId}"})`,
    sumIs(ONE_TASK.executions)
  )
  await singlePrometheus.waitFor("sum(tasker_tasks_requests_total)", sumIs(SINGLE_KINDS.length))
  // two more scrapes, so the rates see the last increments
  await new Promise((r) => setTimeout(r, 2_500))
}, 150_000)

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  await Promise.all(processes.filter((p) => p.child.exitCode === null).map((p) => p.stop("SIGKILL")))
  await db.release()
}, 60_000)

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

describe("a real Prometheus scraping every role", () => {
  it("counts the workload exactly: requests, completions, failures, step runs and failures by error type", async () => {
    expect(single(await fleetPrometheus.query("sum(tasker_tasks_requests_total)"))).toBe(EXPECTED.requests)
    expect(single(await fleetPrometheus.query("sum(tasker_tasks_completions_total)"))).toBe(EXPECTED.completed)
    expect(nonZeroByLabel(await fleetPrometheus.query("sum by (error_type) (tasker_tasks_failures_total)"), "error_type"))
      .toEqual({ blocked_by_failures: EXPECTED.blocked })
    expect(single(await fleetPrometheus.query("sum(tasker_steps_executions_total)"))).toBe(EXPECTED.executions)
    expect(nonZeroByLabel(await fleetPrometheus.query("sum by (error_type) (tasker_steps_failures_total)"), "error_type"))
      .toEqual(EXPECTED.failuresByType)
    // every step ran on a worker (the job of the workers' scrape config), each on the one hosting its namespace
    expect(nonZeroByLabel(await fleetPrometheus.query("sum by (job) (tasker_steps_executions_total)"), "job"))
      .toEqual({ "tasker-worker": EXPECTED.executions })
    const perWorker = await fleetPrometheus.query(
      'count by (instance) (count by (instance, namespace) (tasker_steps_executions_total{job="tasker-worker"} > 0))'
    )
    expect(values(perWorker).sort()).toEqual([1, 2])
  })

  it("evaluates every PromQL expression of docs/observability/promql.md", async () => {
    const expressions = promqlExpressions(readRepoFile("docs/observability/promql.md"))
    expect(expressions.length).toBeGreaterThan(30)
    const used = new Set<Rule>()
    const failures: Array<string> = []
    for (const { expr, section } of expressions) {
      const target = SECTION_TARGET[section]
      if (target === undefined) {
        failures.push(`promql.md section "${section}" is new: say in SECTION_TARGET which deployment it is for`)
        continue
      }
      const rule = DOC_RULES.find((r) => r.match.test(expr))
      if (rule !== undefined) used.add(rule)
      const server = target === "fleet" ? fleetPrometheus : singlePrometheus
      try {
        const result = await server.query(expr.replaceAll("<id>", oneTaskId))
        assertResult(`promql.md, "${section}"`, expr, result, rule)
      } catch (e) {
        failures.push((e as Error).message)
      }
    }
    const stale = DOC_RULES.filter((r) => !used.has(r)).map((r) => `no promql.md expression matches the rule ${r.match}`)
    expect([...failures, ...stale]).toEqual([])
  })

  it("evaluates every panel query of the Grafana dashboard", async () => {
    const dashboard = JSON.parse(readRepoFile("ops/grafana/dashboards/tasker.json")) as Parameters<typeof dashboardQueries>[0]
    const queries = dashboardQueries(dashboard)
    expect(queries.length).toBeGreaterThan(25)
    const failures: Array<string> = []
    for (const q of queries) {
      // "All" of the namespace and queue variables; a rate window that covers the whole workload
      const expr = substituteGrafanaVariables(q.expr, { namespace: ".*", queue: ".*" }, "1m")
      try {
        assertResult(`panel "${q.panel}" (${q.refId})`, expr, await fleetPrometheus.query(expr), PANEL_RULES[q.panel])
      } catch (e) {
        failures.push((e as Error).message)
      }
    }
    const titles = new Set(queries.map((q) => q.panel))
    const stale = Object.keys(PANEL_RULES).filter((t) => !titles.has(t)).map((t) => `no dashboard panel "${t}"`)
    expect([...failures, ...stale]).toEqual([])
  })

  it("loads the alert rules: every rule evaluates without error, and the workload's blocked tasks make their alerts pending", async () => {
    const rules = (await fleetPrometheus.rules()).flatMap((g) => g.rules)
    expect(rules.length).toBeGreaterThanOrEqual(5)
    for (const rule of rules) expect({ name: rule.name, health: rule.health, lastError: rule.lastError ?? "" })
      .toEqual({ name: rule.name, health: "ok", lastError: "" })
    const state = Object.fromEntries(rules.map((r) => [r.name, r.state]))
    // blocked tasks exist, and a third of the tasks failed (for: 15m and 10m, so pending); an orchestrator is up;
    // nothing was dead-lettered
    expect(state).toMatchObject({
      TaskerTasksBlocked: "pending",
      TaskerTaskErrorRatioHigh: "pending",
      TaskerNoLiveOrchestrator: "inactive",
      TaskerDeadLetteredResults: "inactive",
      TaskerQueueMessageAgeGrowing: "inactive",
      TaskerTasksWithoutLiveWorker: "inactive",
      TaskerDatabaseConnectionErrors: "inactive"
    })
  })

  it("promtool: the rule files check, and their unit tests pass", () => {
    const checked = promtool(["check", "rules", ALERTS])
    expect(checked.code, checked.output).toBe(0)
    const tested = promtool(["test", "rules", ALERT_TESTS])
    expect(tested.code, tested.output).toBe(0)
    expect(tested.output).toContain("SUCCESS")
  })
})
