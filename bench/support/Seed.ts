/**
 * The benchmark dataset: 100 000 tasks of mixed shapes and states, generated inside PostgreSQL from a fixed seed,
 * so every run (and every machine) gets the same tasks, steps, edges and transition histories. Each pseudo-random
 * choice is `hashint8extended(row number, seed + salt)`: a hash of the row's number, not a random stream, so the
 * result does not depend on the order in which the server evaluates rows. UUIDs are UUIDv7-shaped (timestamp of
 * the task's creation time, spread over the last seven days, then hashed bits), so the indexes see keys in the
 * same order as in production. Only timestamps move with the clock (relative to the seeding time).
 *
 * Shapes (template → share): linear4 30 %, diamond4 25 %, tree7 15 %, join7 12 % (a step with 3 and one with 4
 * parents), chain8 15 % (steps at depth 0–7), dag50 3 % (50 steps, 96 edges, 8 layers). About 679 000 steps,
 * 770 000 edges, 550 000 task transitions and 2.6 million step transitions.
 *
 * Task states: complete 60 %, steps_in_process 17 %, waiting_for_retry 8 % (half of the retries due),
 * pending 5 %, blocked_by_failures 4 %, waiting_for_dependencies 3 %, cancelled 2 %, error 1 %. A task that is
 * not complete has progressed to a seeded step index: earlier steps complete, that step in the task's
 * in-flight state (in_progress, waiting_for_retry, error), later steps pending (cancelled for a cancelled task).
 * Each step and task has the full transition history of its state. Worker queues stay empty.
 *
 * The rows are written with foreign-key triggers off (they are consistent by construction) and the database is
 * vacuumed, frozen and analyzed afterwards, so benchmarks start from settled tables (no hint-bit writes on the
 * first reads, statistics in place).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { postgresSqlLayer } from "../../layers/postgres.ts"

export const SEED = 20_251_127
export const SEED_TASKS = 100_000
export const SEED_NAMESPACE = "seed_bench"
/** A processor that has stopped (the owner recorded on the seeded transitions). */
export const SEED_PROCESSOR = "00000000-0000-7000-8000-00000000000a"

/**
 * The seeding plan: `prepare` runs in order on one connection; the statements of each `load` group run
 * concurrently (one connection each, so both cores work); then the secondary indexes are rebuilt (concurrently)
 * and `finish` runs (VACUUM cannot run inside a transaction block, so every statement is sent alone).
 */
export interface SeedPlan {
  readonly prepare: ReadonlyArray<string>
  readonly load: ReadonlyArray<ReadonlyArray<string>>
  /** the definitions of the indexes dropped in `prepare` */
  readonly indexDefinitions: string
  readonly finish: ReadonlyArray<string>
}

/** Settings for every seeding session: no foreign-key triggers (consistent by construction), no commit wait. */
export const SEED_SESSION: ReadonlyArray<string> = [
  "SET session_replication_role = replica",
  "SET synchronous_commit = off",
  "SET work_mem = '64MB'",
  "SET maintenance_work_mem = '256MB'"
]

export const seedPlan = (tasks: number, seed: number): SeedPlan => {
  if (!Number.isInteger(tasks) || tasks <= 0 || !Number.isInteger(seed)) throw new Error("tasks and seed must be integers")
  return {
    prepare: [
      `DROP SCHEMA IF EXISTS bench_seed CASCADE`,
      `CREATE SCHEMA bench_seed`,
      // uniform [0, 1) from (row number, salt)
      `CREATE FUNCTION bench_seed.u(i bigint, salt integer) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
         SELECT (hashint8extended(i, ${seed}::bigint * 64 + salt) & 9007199254740991)::double precision / 9007199254740992.0
       $$`,
      // UUIDv7 layout: 48-bit milliseconds, version 7, 12 hashed bits, variant 10, 60 hashed bits (one expression,
      // so that the planner inlines it)
      `CREATE FUNCTION bench_seed.uuid7(ms bigint, i bigint, salt integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
         SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(hashint8extended(i, ${seed}::bigint * 64 + salt) & 4095), 3, '0')
                 || '8' || lpad(to_hex(hashint8extended(i, ${seed}::bigint * 64 + 32 + salt) & 1152921504606846975), 15, '0'))::uuid
       $$`,
      `CREATE UNLOGGED TABLE bench_seed.shapes (shape text PRIMARY KEY, nsteps integer, lo double precision, hi double precision)`,
      `INSERT INTO bench_seed.shapes VALUES
         ('linear4', 4, 0.00, 0.30), ('diamond4', 4, 0.30, 0.55), ('tree7', 7, 0.55, 0.70),
         ('join7', 7, 0.70, 0.82), ('chain8', 8, 0.82, 0.97), ('dag50', 50, 0.97, 1.00)`,
      `CREATE UNLOGGED TABLE bench_seed.edges (shape text, from_idx integer, to_idx integer)`,
      `INSERT INTO bench_seed.edges VALUES
         ('linear4', 0, 1), ('linear4', 1, 2), ('linear4', 2, 3),
         ('diamond4', 0, 1), ('diamond4', 0, 2), ('diamond4', 1, 3), ('diamond4', 2, 3),
         ('tree7', 0, 1), ('tree7', 0, 2), ('tree7', 1, 3), ('tree7', 1, 4), ('tree7', 2, 5), ('tree7', 2, 6),
         ('join7', 0, 4), ('join7', 1, 4), ('join7', 2, 4), ('join7', 0, 5), ('join7', 1, 5), ('join7', 2, 5),
         ('join7', 3, 5), ('join7', 4, 6)`,
      `INSERT INTO bench_seed.edges SELECT 'chain8', d - 1, d FROM generate_series(1, 7) d`,
      // dag50: root 0; layers 1..6 of 8 steps (layer 1 under the root, then two parents each in the layer above);
      // step 49 joins layer 6
      `INSERT INTO bench_seed.edges
         SELECT 'dag50', 0, 1 + j FROM generate_series(0, 7) j
         UNION ALL
         SELECT 'dag50', 1 + (l - 2) * 8 + p, 1 + (l - 1) * 8 + j
         FROM generate_series(2, 6) l, generate_series(0, 7) j, LATERAL (VALUES (j), ((j + 1) % 8)) v(p)
         UNION ALL
         SELECT 'dag50', 41 + j, 49 FROM generate_series(0, 7) j`,
      `INSERT INTO tasker_task_namespaces (name, description) VALUES ('${SEED_NAMESPACE}', 'benchmark dataset')`,
      `INSERT INTO tasker_named_tasks (task_namespace_uuid, name, version)
         SELECT ns.task_namespace_uuid, s.shape, '1.0.0' FROM bench_seed.shapes s, tasker_task_namespaces ns
         WHERE ns.name = '${SEED_NAMESPACE}'`,
      `INSERT INTO tasker_dependent_systems (name) VALUES ('${SEED_NAMESPACE}')`,
      `INSERT INTO tasker_named_steps (dependent_system_uuid, name)
         SELECT ds.dependent_system_uuid, s.shape || '_s' || idx
         FROM bench_seed.shapes s CROSS JOIN LATERAL generate_series(0, s.nsteps - 1) idx, tasker_dependent_systems ds
         WHERE ds.name = '${SEED_NAMESPACE}'`,
      `INSERT INTO tasker_processors (processor_uuid, role, hostname, pid, stopped_at)
         VALUES ('${SEED_PROCESSOR}', 'orchestrator+worker', 'seed', 0, now())`,
      // secondary indexes are built once after loading (much faster than maintaining them row by row)
      `CREATE UNLOGGED TABLE bench_seed.indexes AS
         SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         WHERE c.relname IN ('tasker_tasks', 'tasker_workflow_steps', 'tasker_workflow_step_edges', 'tasker_task_transitions',
                             'tasker_workflow_step_transitions')
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
      `DO $$ DECLARE r record; BEGIN
         FOR r IN SELECT name FROM bench_seed.indexes LOOP EXECUTE 'DROP INDEX ' || r.name; END LOOP;
       END $$`,
      `CREATE UNLOGGED TABLE bench_seed.tasks AS
         WITH base AS (
           SELECT i, now() - interval '7 days' + (interval '7 days' * i / ${tasks}) AS created_at,
                  bench_seed.u(i, 1) AS r_shape, bench_seed.u(i, 2) AS r_state, bench_seed.u(i, 3) AS r_progress,
                  bench_seed.u(i, 4) AS r_priority, bench_seed.u(i, 5) AS r_due
           FROM generate_series(0, ${tasks - 1}) i
         )
         SELECT b.i, b.created_at, s.shape, s.nsteps,
                CASE WHEN b.r_state < 0.60 THEN 'complete'
                     WHEN b.r_state < 0.77 THEN 'steps_in_process'
                     WHEN b.r_state < 0.85 THEN 'waiting_for_retry'
                     WHEN b.r_state < 0.90 THEN 'pending'
                     WHEN b.r_state < 0.94 THEN 'blocked_by_failures'
                     WHEN b.r_state < 0.97 THEN 'waiting_for_dependencies'
                     WHEN b.r_state < 0.99 THEN 'cancelled'
                     ELSE 'error' END AS state,
                least(floor(b.r_progress * s.nsteps)::integer, s.nsteps - 1) AS k,
                CASE WHEN b.r_priority < 0.9 THEN 0 ELSE 1 + floor((b.r_priority - 0.9) * 50)::integer END AS priority,
                b.r_due < 0.5 AS retry_due,
                (extract(epoch FROM b.created_at) * 1000)::bigint AS ms,
                nt.named_task_uuid
         FROM base b
         JOIN bench_seed.shapes s ON b.r_shape >= s.lo AND b.r_shape < s.hi
         JOIN tasker_named_tasks nt ON nt.name = s.shape
         JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid AND ns.name = '${SEED_NAMESPACE}'`,
      // a task in steps_in_process has one step in progress (the one at its progress mark), the only active one
      `INSERT INTO tasker_tasks (task_uuid, named_task_uuid, complete, requested_at, completed_at, context, identity_hash,
                                 priority, current_state, active_steps, correlation_id, created_at, updated_at)
         SELECT bench_seed.uuid7(t.ms, t.i, 1), t.named_task_uuid, t.state = 'complete', t.created_at,
                CASE WHEN t.state IN ('complete', 'error', 'cancelled') THEN t.created_at + interval '2 seconds' END,
                jsonb_build_object('n', t.i), 'seed:${seed}:' || t.i, t.priority, t.state,
                CASE WHEN t.state = 'steps_in_process' THEN 1 ELSE 0 END, bench_seed.uuid7(t.ms, t.i, 3),
                t.created_at, t.created_at + interval '2 seconds'
         FROM bench_seed.tasks t`,
      `CREATE UNLOGGED TABLE bench_seed.steps AS
         SELECT t.i, idx, t.ms, bench_seed.uuid7(t.ms, t.i * 64 + idx, 2) AS step_uuid, t.created_at, t.retry_due,
                CASE
                  WHEN t.state = 'complete' THEN 'complete'
                  WHEN t.state = 'pending' THEN 'pending'
                  WHEN idx < t.k THEN 'complete'
                  WHEN t.state = 'cancelled' THEN 'cancelled'
                  WHEN idx > t.k THEN 'pending'
                  WHEN t.state = 'steps_in_process' THEN 'in_progress'
                  WHEN t.state = 'waiting_for_retry' THEN 'waiting_for_retry'
                  WHEN t.state IN ('blocked_by_failures', 'error') THEN 'error'
                  ELSE 'pending' END AS state,
                ns.named_step_uuid, bench_seed.uuid7(t.ms, t.i, 1) AS task_uuid
         FROM bench_seed.tasks t
         CROSS JOIN LATERAL generate_series(0, t.nsteps - 1) idx
         JOIN tasker_named_steps ns ON ns.name = t.shape || '_s' || idx`,
    ],
    load: [
      [
        `INSERT INTO tasker_workflow_steps (workflow_step_uuid, task_uuid, named_step_uuid, max_attempts, in_process, processed,
                                            processed_at, attempts, last_attempted_at, backoff_request_seconds, results,
                                            current_state, retry_at, created_at, updated_at)
           SELECT s.step_uuid, s.task_uuid, s.named_step_uuid, 3, s.state = 'in_progress', s.state IN ('complete', 'cancelled'),
                  CASE WHEN s.state IN ('complete', 'cancelled') THEN s.created_at + interval '1 second' END,
                  a.attempts, CASE WHEN a.attempts > 0 THEN s.created_at + s.idx * interval '50 milliseconds' END,
                  CASE WHEN s.state = 'waiting_for_retry' THEN 2 END,
                  CASE WHEN s.state = 'complete' THEN jsonb_build_object('success', true, 'result', jsonb_build_object('value', s.idx))
                       WHEN s.state IN ('waiting_for_retry', 'error')
                         THEN '{"success": false, "error": {"message": "seeded failure", "retryable": true}}'::jsonb END,
                  s.state,
                  CASE WHEN s.state = 'waiting_for_retry'
                       THEN CASE WHEN s.retry_due THEN now() - interval '1 minute' ELSE now() + interval '1 hour' END END,
                  s.created_at, s.created_at + interval '1 second'
           FROM bench_seed.steps s
           CROSS JOIN LATERAL (SELECT CASE s.state WHEN 'error' THEN 3 WHEN 'complete' THEN 1 WHEN 'in_progress' THEN 1
                                                   WHEN 'waiting_for_retry' THEN 1 ELSE 0 END AS attempts) a`,
        `INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid, created_at)
           SELECT bench_seed.uuid7(t.ms, t.i * 64 + e.from_idx, 2), bench_seed.uuid7(t.ms, t.i * 64 + e.to_idx, 2), t.created_at
           FROM bench_seed.tasks t JOIN bench_seed.edges e ON e.shape = t.shape`
      ],
      [
        `INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, to_state, from_state, metadata, sort_key,
                                                       processor_uuid, created_at)
           SELECT s.step_uuid, p.to_state, path[(p.ord - 1)::integer], '{"event": "Seed"}'::jsonb, p.ord, '${SEED_PROCESSOR}',
                  s.created_at + p.ord * interval '10 milliseconds'
           FROM bench_seed.steps s
           CROSS JOIN LATERAL (SELECT CASE s.state
               WHEN 'pending' THEN ARRAY['pending']
               WHEN 'in_progress' THEN ARRAY['pending', 'enqueued', 'in_progress']
               WHEN 'complete' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration', 'complete']
               WHEN 'waiting_for_retry' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_as_error_for_orchestration',
                                                   'waiting_for_retry']
               WHEN 'error' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_as_error_for_orchestration', 'error']
               ELSE ARRAY['pending', 'cancelled'] END::varchar[] AS path) x
           CROSS JOIN LATERAL unnest(path) WITH ORDINALITY AS p(to_state, ord)
           WHERE s.i % 2 = 0`,
        `INSERT INTO tasker_task_transitions (task_uuid, to_state, from_state, metadata, sort_key, processor_uuid, created_at)
           SELECT bench_seed.uuid7(t.ms, t.i, 1), p.to_state, path[(p.ord - 1)::integer], '{"event": "Seed"}'::jsonb, p.ord,
                  '${SEED_PROCESSOR}', t.created_at + p.ord * interval '100 milliseconds'
           FROM bench_seed.tasks t
           CROSS JOIN LATERAL (SELECT CASE t.state
               WHEN 'pending' THEN ARRAY['pending']
               WHEN 'steps_in_process' THEN ARRAY['pending', 'initializing', 'enqueuing_steps', 'steps_in_process']
               WHEN 'cancelled' THEN ARRAY['pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'cancelled']
               WHEN 'error' THEN ARRAY['pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
                                       'blocked_by_failures', 'error']
               ELSE ARRAY['pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results', t.state]
               END::varchar[] AS path) x
           CROSS JOIN LATERAL unnest(path) WITH ORDINALITY AS p(to_state, ord)`
      ],
      [
        `INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, to_state, from_state, metadata, sort_key,
                                                       processor_uuid, created_at)
           SELECT s.step_uuid, p.to_state, path[(p.ord - 1)::integer], '{"event": "Seed"}'::jsonb, p.ord, '${SEED_PROCESSOR}',
                  s.created_at + p.ord * interval '10 milliseconds'
           FROM bench_seed.steps s
           CROSS JOIN LATERAL (SELECT CASE s.state
               WHEN 'pending' THEN ARRAY['pending']
               WHEN 'in_progress' THEN ARRAY['pending', 'enqueued', 'in_progress']
               WHEN 'complete' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration', 'complete']
               WHEN 'waiting_for_retry' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_as_error_for_orchestration',
                                                   'waiting_for_retry']
               WHEN 'error' THEN ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_as_error_for_orchestration', 'error']
               ELSE ARRAY['pending', 'cancelled'] END::varchar[] AS path) x
           CROSS JOIN LATERAL unnest(path) WITH ORDINALITY AS p(to_state, ord)
           WHERE s.i % 2 = 1`
      ]
    ],
    indexDefinitions: `SELECT def FROM bench_seed.indexes`,
    finish: [
      // a pending step's count of unfinished parents, as the engine keeps it
      `UPDATE tasker_workflow_steps c SET unfinished_parents = p.unfinished
         FROM (SELECT e.to_step_uuid, count(*) FILTER (WHERE parent.current_state NOT IN ('complete', 'resolved_manually'))::int AS unfinished
               FROM tasker_workflow_step_edges e JOIN tasker_workflow_steps parent ON parent.workflow_step_uuid = e.from_step_uuid
               GROUP BY e.to_step_uuid) p
         WHERE c.workflow_step_uuid = p.to_step_uuid AND c.current_state = 'pending' AND p.unfinished > 0`,
      `DROP SCHEMA bench_seed CASCADE`,
      `VACUUM (FREEZE, ANALYZE)`,
      `CHECKPOINT`
    ]
  }
}

export interface SeedCounts {
  readonly tasks: number
  readonly steps: number
  readonly edges: number
  readonly taskTransitions: number
  readonly stepTransitions: number
  readonly seconds: number
}

/** A connection of its own with the seeding session settings. */
const seedSession = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.makeClient({ url: Redacted.make(url) })
    for (const setting of SEED_SESSION) yield* sql.unsafe(setting).unprepared
    return sql
  })

/**
 * Migrates the (empty) database at `url` and seeds it. `log` receives progress lines.
 */
export const seedDatabase = (
  url: string,
  options: { readonly tasks?: number; readonly seed?: number; readonly log?: (line: string) => void } = {}
): Promise<SeedCounts> =>
  Effect.gen(function*() {
    const started = performance.now()
    yield* Layer.build(postgresSqlLayer({ url: Redacted.make(url), maxConnections: 1 })).pipe(Effect.scoped)
    const plan = seedPlan(options.tasks ?? SEED_TASKS, options.seed ?? SEED)
    const timed = (sql: PgClient.PgClient, statement: string) =>
      Effect.gen(function*() {
        const t0 = performance.now()
        yield* sql.unsafe(statement).unprepared
        const ms = performance.now() - t0
        if (ms > 2000) {
          options.log?.(`${(ms / 1000).toFixed(1)} s  ${statement.trim().split("\n")[0]!.slice(0, 80)}`)
        }
      })
    // statements on one session run in order; load groups and index builds on sessions of their own
    const inSession = (statements: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const sql = yield* seedSession(url)
        for (const statement of statements) yield* timed(sql, statement)
      }).pipe(Effect.scoped)
    yield* inSession(plan.prepare)
    yield* Effect.forEach(plan.load, inSession, { concurrency: "unbounded", discard: true })
    const main = yield* seedSession(url)
    const indexes = yield* main.unsafe<{ def: string }>(plan.indexDefinitions).unprepared
    const halves = [indexes.filter((_, i) => i % 2 === 0), indexes.filter((_, i) => i % 2 === 1)]
    yield* Effect.forEach(halves, (half) => inSession(half.map((i) => i.def)), { concurrency: 2, discard: true })
    yield* main.unsafe("RESET session_replication_role").unprepared
    for (const statement of plan.finish) yield* timed(main, statement)
    const [counts] = yield* main.unsafe<Omit<SeedCounts, "seconds">>(`SELECT
      (SELECT count(*)::int FROM tasker_tasks) AS tasks,
      (SELECT count(*)::int FROM tasker_workflow_steps) AS steps,
      (SELECT count(*)::int FROM tasker_workflow_step_edges) AS edges,
      (SELECT count(*)::int FROM tasker_task_transitions) AS "taskTransitions",
      (SELECT count(*)::int FROM tasker_workflow_step_transitions) AS "stepTransitions"`).unprepared
    return { ...counts!, seconds: Math.round((performance.now() - started) / 100) / 10 }
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.orDie, Effect.runPromise)
