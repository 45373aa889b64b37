/**
 * SQL functions on the seeded 100 000-task database (bench/support/Seed.ts), each called over one open
 * connection with the engine's session settings (`plan_cache_mode = force_generic_plan`, prepared statements).
 *
 * One sample = one call: from sending the statement to having decoded every row it returned (the round trip is
 * included; `select 1` shows its floor). Every sample uses the next of 1 000 rows chosen by a hash of their
 * UUIDs (the same rows in every run), so the figures are not those of one cached row. The calls that write —
 * `get_next_ready_tasks` claims tasks, `transition_task_state_atomic` moves one — run inside a transaction that is
 * rolled back after the sample, untimed: the sample is the function's work, not the commit, and the dataset stays
 * as seeded (the claimable tasks are the queue's head, so `get_next_ready_tasks` sees the same head every time).
 * Each case also records `serverExecutionP50Ms`: the median server-side execution time of 50 of its calls
 * (`EXPLAIN (ANALYZE, TIMING OFF)`), which tells the function's own cost from the round trip's.
 *
 * Then the dashboard's reads on the same dataset: the overview's queries and a task-list page
 * (bench/support/DashboardCases.ts).
 *
 *   node bench/sql-functions.ts [--quick] [--database-url postgres://…/already_seeded]
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { createBenchDatabase, serverVersion } from "./support/BenchEngine.ts"
import { dashboardCases } from "./support/DashboardCases.ts"
import { budget, flagValue, runStandalone, sample, type Suite, type SuiteContext } from "./support/Harness.ts"
import { type CaseResult, latencyCase, type Target } from "./support/Results.ts"
import { seedDatabase } from "./support/Seed.ts"
import { summarize } from "./support/Stats.ts"

const SUITE = "sql-functions"
const ROWS = 1_000
/** calls explained per case for the server's execution time */
const SERVER_SAMPLES = 50
/** a live processor registered for the benchmark (claims need an owner) */
const BENCH_PROCESSOR = "00000000-0000-7000-8000-0000000000b1"
const target: ReadonlyArray<Target> = [{ metric: "p50", op: "<=", value: 0.15 }]

type Row = Record<string, unknown>

/** The engine's session settings (layers/postgres.ts), on a single connection. */
const clientLayer = (url: string) =>
  PgClient.layerFrom(PgClient.makeClient({
    url: Redacted.make(url),
    applicationName: "tasker-bench",
    startupParameters: { "tasker.async_commit": "on", plan_cache_mode: "force_generic_plan" }
  })).pipe(Layer.provide(Reactivity.layer))

interface CaseSpec {
  readonly name: string
  /** the rows to cycle through (each row: the statement's parameters) */
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>
  readonly statement: string
  /** inside BEGIN … ROLLBACK (for functions that write) */
  readonly rollback?: boolean
  /** checks the first call's result (throws when the case would not time what its name says) */
  readonly check: (rows: ReadonlyArray<Row>) => string | undefined
  readonly targets?: ReadonlyArray<Target>
}

export const run = async (ctx: SuiteContext, options: { readonly databaseUrl?: string | undefined } = {}) => {
  const owned = options.databaseUrl === undefined ? await createBenchDatabase("tasker_bench_sql") : undefined
  const url = options.databaseUrl ?? owned!.url
  try {
    if (owned !== undefined) {
      const counts = await seedDatabase(url, { log: ctx.log })
      ctx.log(
        `seeded ${counts.tasks} tasks, ${counts.steps} steps, ${counts.edges} edges, ` +
          `${counts.taskTransitions + counts.stepTransitions} transitions in ${counts.seconds} s`
      )
    }
    const runtime = ManagedRuntime.make(clientLayer(url))
    let cases: Array<CaseResult>
    try {
      cases = await runCases(ctx, runtime)
    } finally {
      await runtime.dispose()
    }
    // the dashboard's reads on the same dataset (bench/support/DashboardCases.ts)
    return { cases: [...cases, ...(await dashboardCases(ctx, SUITE, url))] }
  } finally {
    await owned?.drop()
  }
}

const runCases = async (
  ctx: SuiteContext,
  runtime: ManagedRuntime.ManagedRuntime<PgClient.PgClient, unknown>
): Promise<Array<CaseResult>> => {
  const query = <A extends Row = Row>(text: string, params: ReadonlyArray<unknown> = []) =>
    runtime.runPromise(Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe<A>(text, params as Array<unknown>)))
  const simple = (text: string) =>
    runtime.runPromise(Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(text).unprepared))

  await query(
    `INSERT INTO tasker_processors (processor_uuid, role, hostname, pid) VALUES ($1, 'orchestrator', 'bench', 0)
     ON CONFLICT (processor_uuid) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL`,
    [BENCH_PROCESSOR]
  )

  /** `ROWS` rows of a query, in a fixed pseudo-random order (md5 of the key). */
  const pick = async (text: string): Promise<Array<Row>> => {
    const rows = await query(`SELECT * FROM (${text}) x ORDER BY md5(x.k::text) LIMIT ${ROWS}`)
    if (rows.length === 0) throw new Error(`no rows for: ${text}`)
    return [...rows]
  }
  const tasksOf = (shape: string, state?: string) =>
    pick(`SELECT t.task_uuid AS k FROM tasker_tasks t JOIN tasker_named_tasks nt USING (named_task_uuid)
          WHERE nt.name = '${shape}'${state === undefined ? "" : ` AND t.current_state = '${state}'`}`)
  const stepsNamed = (name: string) =>
    pick(`SELECT ws.workflow_step_uuid AS k, ws.task_uuid FROM tasker_workflow_steps ws
          JOIN tasker_named_steps ns USING (named_step_uuid) WHERE ns.name = '${name}'`)

  const specs: Array<CaseSpec> = []
  specs.push({
    name: "select 1 (round-trip floor)",
    rows: [[]],
    statement: "SELECT 1 AS one",
    check: (r) => (r.length === 1 ? undefined : "expected one row")
  })
  for (const batch of [1, 10, 50, 100]) {
    specs.push({
      name: `get_next_ready_tasks batch ${batch}`,
      rows: [[batch, BENCH_PROCESSOR]],
      statement: "SELECT * FROM get_next_ready_tasks($1::integer, $2::uuid, 60)",
      rollback: true,
      check: (r) => (r.length === batch ? undefined : `claimed ${r.length} tasks, expected ${batch}`),
      targets: target
    })
  }
  const readinessSteps: ReadonlyArray<readonly [number, string]> = [
    [0, "linear4_s0"],
    [1, "linear4_s2"],
    [2, "diamond4_s3"],
    [3, "join7_s4"],
    [4, "join7_s5"]
  ]
  for (const [parents, stepName] of readinessSteps) {
    const rows = await stepsNamed(stepName)
    specs.push({
      name: `get_step_readiness_status step with ${parents} parents`,
      rows: rows.map((r) => [r.task_uuid, `{${r.k}}`]),
      statement: "SELECT * FROM get_step_readiness_status($1::uuid, $2::uuid[])",
      check: (r) =>
        r.length !== 1
          ? `expected 1 row, got ${r.length}`
          : r[0]!.total_parents !== parents
          ? `expected ${parents} parents, got ${r[0]!.total_parents}`
          : undefined,
      targets: target
    })
  }
  for (const [shape, steps] of [["linear4", 4], ["dag50", 50]] as const) {
    const rows = await tasksOf(shape)
    specs.push({
      name: `get_step_readiness_status whole task ${shape} (${steps} steps)`,
      rows: rows.map((r) => [r.k]),
      statement: "SELECT * FROM get_step_readiness_status($1::uuid)",
      check: (r) => (r.length === steps ? undefined : `expected ${steps} rows, got ${r.length}`),
      targets: target
    })
  }
  const inProcess = await pick(`SELECT task_uuid AS k FROM tasker_tasks WHERE current_state = 'steps_in_process'`)
  specs.push({
    name: "transition_task_state_atomic CAS success",
    rows: inProcess.map((r) => [r.k, "steps_in_process"]),
    statement:
      `SELECT * FROM transition_task_state_atomic($1::uuid, $2::varchar, 'evaluating_results', '${BENCH_PROCESSOR}'::uuid,
                                                  '{"event": "Bench"}'::jsonb, 60)`,
    rollback: true,
    check: (r) => (r[0]?.transitioned === true ? undefined : `expected a transition, got ${JSON.stringify(r[0])}`),
    targets: target
  })
  specs.push({
    name: "transition_task_state_atomic CAS lost race",
    // the caller still believes the task waits for dependencies; another orchestrator moved it on meanwhile
    rows: inProcess.map((r) => [r.k, "waiting_for_dependencies"]),
    statement:
      `SELECT * FROM transition_task_state_atomic($1::uuid, $2::varchar, 'evaluating_results', '${BENCH_PROCESSOR}'::uuid,
                                                  '{"event": "Bench"}'::jsonb, 60)`,
    rollback: true,
    check: (r) =>
      r[0]?.transitioned === false && r[0]?.current_state === "steps_in_process"
        ? undefined
        : `expected a refused transition, got ${JSON.stringify(r[0])}`,
    targets: target
  })
  for (const [shape, steps] of [["linear4", 4], ["dag50", 50]] as const) {
    const rows = await tasksOf(shape)
    specs.push({
      name: `get_task_execution_context ${shape} (${steps} steps)`,
      rows: rows.map((r) => [r.k]),
      statement: "SELECT * FROM get_task_execution_context($1::uuid)",
      check: (r) => (r[0]?.total_steps === steps ? undefined : `expected ${steps} steps, got ${JSON.stringify(r[0])}`),
      targets: target
    })
  }
  for (let depth = 0; depth <= 7; depth++) {
    const rows = await stepsNamed(`chain8_s${depth}`)
    specs.push({
      name: `get_step_transitive_dependencies depth ${depth}`,
      rows: rows.map((r) => [r.k]),
      statement: "SELECT * FROM get_step_transitive_dependencies($1::uuid)",
      check: (r) => (r.length === depth ? undefined : `expected ${depth} ancestors, got ${r.length}`),
      targets: target
    })
  }

  const cases: Array<CaseResult> = []
  for (const spec of specs) {
    if (spec.rollback === true) await simple("VACUUM (ANALYZE) tasker_tasks, tasker_task_transitions")
    const call = (index: number) =>
      runtime.runPromise(Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const params = spec.rows[index % spec.rows.length]! as Array<unknown>
        if (spec.rollback === true) yield* sql.unsafe("BEGIN").unprepared
        const started = performance.now()
        const rows = yield* sql.unsafe<Row>(spec.statement, params)
        const elapsed = performance.now() - started
        if (spec.rollback === true) yield* sql.unsafe("ROLLBACK").unprepared
        return { elapsed, rows }
      }))
    const problem = spec.check((await call(0)).rows)
    if (problem !== undefined) throw new Error(`${SUITE}/${spec.name}: ${problem}`)
    const samples = await sample(async (i) => (await call(i)).elapsed, budget(ctx.mode, "fast"))
    // the server's share: EXPLAIN ANALYZE's execution time (no per-node timing) over rows of the same list
    const serverMs: Array<number> = []
    for (let i = 0; i < SERVER_SAMPLES; i++) {
      const plan = await runtime.runPromise(Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        if (spec.rollback === true) yield* sql.unsafe("BEGIN").unprepared
        const rows = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
          `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${spec.statement}`,
          spec.rows[i % spec.rows.length]! as Array<unknown>
        )
        if (spec.rollback === true) yield* sql.unsafe("ROLLBACK").unprepared
        return rows[0]!["QUERY PLAN"]
      }))
      const parsed = (typeof plan === "string" ? JSON.parse(plan) : plan) as Array<{ "Execution Time": number }>
      serverMs.push(parsed[0]!["Execution Time"])
    }
    cases.push(latencyCase({
      suite: SUITE,
      case: spec.name,
      timed: spec.rollback === true
        ? "the function call's round trip inside an open transaction (BEGIN before and ROLLBACK after, untimed)"
        : "the function call's round trip (statement sent → all rows decoded), autocommit",
      samplesMs: samples,
      targets: spec.targets,
      extra: { distinctRows: spec.rows.length, serverExecutionP50Ms: summarize(serverMs).p50 }
    }))
  }
  return cases
}

export const suite: Suite = { name: SUITE, run: (ctx) => run(ctx) }

if (import.meta.main) {
  const databaseUrl = flagValue(process.argv, "--database-url")
  await runStandalone({ name: SUITE, run: (ctx) => run(ctx, { databaseUrl }) }, serverVersion)
}
