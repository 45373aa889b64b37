/**
 * Captures `EXPLAIN (ANALYZE, BUFFERS)` of each benchmarked SQL function on the seeded dataset into
 * profiles/explain/<function>.txt, so plan changes show in review.
 *
 * The statements are prepared and executed as the engine runs them (`plan_cache_mode = force_generic_plan`,
 * parameters, the second execution so caches are warm), inside a transaction that is rolled back. PL/pgSQL
 * functions show as one Function Scan in their own plan, so each file also holds the plans of the statements
 * inside the function (auto_explain with `log_nested_statements`, `log_analyze`, `log_buffers`), which is where
 * their time goes. SQL functions are inlined: their plan is the real one.
 *
 *   npm run bench:explain                                  # seeds a fresh database, drops it afterwards
 *   npm run bench:explain -- --database-url postgres://…   # an already seeded database (npm run bench:seed)
 *
 * Needs `psql` (auto_explain reports through notices, which psql prints).
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { createBenchDatabase, serverVersion } from "./support/BenchEngine.ts"
import { flagValue, profilesDir } from "./support/Harness.ts"
import { SEED, SEED_TASKS, seedDatabase } from "./support/Seed.ts"

const BENCH_PROCESSOR = "00000000-0000-7000-8000-0000000000b1"

interface Spec {
  readonly file: string
  readonly title: string
  /** returns the EXECUTE arguments (SQL literals), from the seeded data */
  readonly args: string
  readonly prepare: string
  readonly rollback: boolean
}

const pickFirst = (from: string) => `SELECT * FROM (${from}) x ORDER BY md5(x.k::text) LIMIT 1`
const stepNamed = (name: string) =>
  pickFirst(`SELECT ws.workflow_step_uuid AS k, ws.task_uuid FROM tasker_workflow_steps ws
             JOIN tasker_named_steps ns USING (named_step_uuid) WHERE ns.name = '${name}'`)
const taskOf = (shape: string, state?: string) =>
  pickFirst(`SELECT t.task_uuid AS k FROM tasker_tasks t JOIN tasker_named_tasks nt USING (named_task_uuid)
             WHERE nt.name = '${shape}'${state === undefined ? "" : ` AND t.current_state = '${state}'`}`)

const specs: ReadonlyArray<Spec> = [
  {
    file: "get_next_ready_tasks",
    title: "get_next_ready_tasks(10, processor, 60): claims the 10 next ready tasks",
    args: `SELECT '10', quote_literal('${BENCH_PROCESSOR}')`,
    prepare: "PREPARE q(integer, uuid) AS SELECT * FROM get_next_ready_tasks($1, $2, 60)",
    rollback: true
  },
  {
    file: "get_step_readiness_status",
    title: "get_step_readiness_status(task, ARRAY[step]) for a step with 4 parents (join7_s5)",
    args: `SELECT quote_literal(task_uuid), quote_literal('{' || k || '}') FROM (${stepNamed("join7_s5")}) s`,
    prepare: "PREPARE q(uuid, uuid[]) AS SELECT * FROM get_step_readiness_status($1, $2)",
    rollback: false
  },
  {
    file: "get_step_readiness_status_whole_task",
    title: "get_step_readiness_status(task) for a 50-step task (dag50), as tasker_enqueue_ready_steps calls it",
    args: `SELECT quote_literal(k) FROM (${taskOf("dag50")}) s`,
    prepare: "PREPARE q(uuid) AS SELECT * FROM get_step_readiness_status($1)",
    rollback: false
  },
  {
    file: "transition_task_state_atomic",
    title: "transition_task_state_atomic(task, 'steps_in_process', 'evaluating_results', …): a successful compare-and-set",
    args: `SELECT quote_literal(k), quote_literal('steps_in_process') FROM (${taskOf("linear4", "steps_in_process")}) s`,
    prepare: `PREPARE q(uuid, varchar) AS SELECT * FROM transition_task_state_atomic($1, $2, 'evaluating_results',
              '${BENCH_PROCESSOR}'::uuid, '{"event": "Bench"}'::jsonb, 60)`,
    rollback: true
  },
  {
    file: "transition_task_state_atomic_lost_race",
    title: "transition_task_state_atomic(task, 'waiting_for_dependencies', …) on a task already moved on: the lost race",
    args: `SELECT quote_literal(k), quote_literal('waiting_for_dependencies') FROM (${taskOf("linear4", "steps_in_process")}) s`,
    prepare: `PREPARE q(uuid, varchar) AS SELECT * FROM transition_task_state_atomic($1, $2, 'evaluating_results',
              '${BENCH_PROCESSOR}'::uuid, '{"event": "Bench"}'::jsonb, 60)`,
    rollback: true
  },
  {
    file: "get_task_execution_context",
    title: "get_task_execution_context(task) for a linear-4 task",
    args: `SELECT quote_literal(k) FROM (${taskOf("linear4")}) s`,
    prepare: "PREPARE q(uuid) AS SELECT * FROM get_task_execution_context($1)",
    rollback: false
  },
  {
    file: "get_task_execution_context_dag50",
    title: "get_task_execution_context(task) for a 50-step task (dag50)",
    args: `SELECT quote_literal(k) FROM (${taskOf("dag50")}) s`,
    prepare: "PREPARE q(uuid) AS SELECT * FROM get_task_execution_context($1)",
    rollback: false
  },
  {
    file: "get_step_transitive_dependencies",
    title: "get_step_transitive_dependencies(step) for the last step of an 8-step chain (depth 7)",
    args: `SELECT quote_literal(k) FROM (${stepNamed("chain8_s7")}) s`,
    prepare: "PREPARE q(uuid) AS SELECT * FROM get_step_transitive_dependencies($1)",
    rollback: false
  }
]

const psql = (url: string, script: string): { stdout: string; stderr: string } => {
  const result = spawnSync("psql", [url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"], { input: script, encoding: "utf8" })
  if (result.error !== undefined) throw new Error(`psql could not run: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`psql failed:\n${result.stderr}\n--- script:\n${script}`)
  return { stdout: result.stdout, stderr: result.stderr }
}

const session = `SET plan_cache_mode = force_generic_plan;
SET tasker.async_commit = on;
INSERT INTO tasker_processors (processor_uuid, role, hostname, pid) VALUES ('${BENCH_PROCESSOR}', 'orchestrator', 'bench', 0)
  ON CONFLICT (processor_uuid) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL;
`

const explainOne = (url: string, spec: Spec, header: string): string => {
  const args = psql(url, spec.args).stdout.trim().split("|").join(", ")
  if (args.length === 0) throw new Error(`${spec.file}: no row to explain`)
  const execute = `EXECUTE q(${args})`
  const wrap = (statement: string) => (spec.rollback ? `BEGIN;\n${statement};\nROLLBACK;\n` : `${statement};\n`)
  // a first execution (caches, the function's cached plans), then the measured one
  const quiet = (statement: string) => `\\o /dev/null\n${statement}\\o\n`
  const explain = psql(url, `${session}${spec.prepare};\n${quiet(wrap(execute))}${wrap(`EXPLAIN (ANALYZE, BUFFERS) ${execute}`)}`)
  const nested = psql(
    url,
    `${session}${spec.prepare};\n${quiet(wrap(execute))}LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
${quiet(wrap(execute))}`
  )
  const notices = nested.stderr.replace(/^psql:<stdin>:\d+: /gm, "").trim()
  const statements = (notices.match(/^NOTICE: {2}duration/gm) ?? []).length
  return `${header}-- ${spec.title}
-- statement: ${spec.prepare.replace(/\s+/g, " ")}; ${execute}${spec.rollback ? " (in a transaction, rolled back)" : ""}

== EXPLAIN (ANALYZE, BUFFERS), second execution ==

${explain.stdout.trim()}

== every statement the call executed (auto_explain: log_analyze, log_buffers, log_nested_statements), third execution ==

${statements > 1 ? notices : "(only the statement above: the SQL function is inlined into its plan)"}
`
}

const argv = process.argv.slice(2)
const given = flagValue(argv, "--database-url")
const owned = given === undefined ? await createBenchDatabase("tasker_bench_explain") : undefined
const url = given ?? owned!.url
try {
  if (owned !== undefined) {
    console.log(`seeding ${owned.name} …`)
    const counts = await seedDatabase(url, { log: (line) => console.log(`  ${line}`) })
    console.log(`seeded in ${counts.seconds} s`)
  }
  const dir = join(profilesDir, "explain")
  mkdirSync(dir, { recursive: true })
  const header = `-- generated by npm run bench:explain on ${await serverVersion()}; dataset: bench/support/Seed.ts ` +
    `(${SEED_TASKS} tasks, seed ${SEED})\n`
  for (const spec of specs) {
    const path = join(dir, `${spec.file}.txt`)
    writeFileSync(path, explainOne(url, spec, header))
    console.log(`wrote ${path}`)
  }
} finally {
  await owned?.drop()
}
