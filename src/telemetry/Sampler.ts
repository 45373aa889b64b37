/**
 * Gauges sampled from the database at a fixed interval (by the orchestrator process):
 * - `tasker.tasks.active{state}`: tasks in each non-terminal state (terminal states only grow; count them with SQL),
 * - `tasker.steps.ready{namespace}`: steps enqueued and waiting for a worker,
 * - `tasker.queue.depth{queue}` and `tasker.queue.oldest_message.age{queue}` (ms) for every queue,
 * - `tasker.db.pool.connections{pool, application_name, state}`: sessions on the current database whose
 *   `application_name` is the sampling session's, by state. PostgreSQL cannot tell one client's pool from another's,
 *   so that is every process that uses the same name (`postgresLayer({ applicationName })`, default
 *   `tasker-effect`), not this process's pool; give each process its own name to count its pool alone.
 */
import { Duration, Effect, Layer, Metric } from "effect"
import { SqlClient } from "effect/sql"
import { nonTerminalTaskStates } from "../domain/TaskStateMachine.ts"
import { supervised } from "../internal/Supervised.ts"
import * as Metrics from "./Metrics.ts"

const set = (gauge: Metric.Metric<number, unknown>, attributes: Record<string, string>, value: number) =>
  Metric.update(Metrics.labelled(gauge, attributes), value)

/** the states of `tasker.tasks.active` (every state a task can still leave) */
const ACTIVE_STATES = nonTerminalTaskStates

/** `pg_stat_activity.state` values of client sessions */
const CONNECTION_STATES = ["active", "idle", "idle in transaction", "idle in transaction (aborted)"]

/** Samples the gauges once. */
export const sampleGauges = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const states = yield* sql<{ state: string; n: number }>`
    SELECT current_state AS state, count(*)::int AS n FROM tasker_tasks
    WHERE current_state IN ${sql.in(ACTIVE_STATES)} GROUP BY current_state`
  const byState = new Map(states.map((r) => [r.state, r.n]))
  for (const state of ACTIVE_STATES) yield* set(Metrics.tasksActive, { state }, byState.get(state) ?? 0)

  const ready = yield* sql<{ namespace: string; n: number }>`
    SELECT ns.name AS namespace, count(ws.workflow_step_uuid)::int AS n
    FROM tasker_task_namespaces ns
    LEFT JOIN tasker_named_tasks nt ON nt.task_namespace_uuid = ns.task_namespace_uuid
    LEFT JOIN tasker_tasks t ON t.named_task_uuid = nt.named_task_uuid AND t.current_state = 'steps_in_process'
    LEFT JOIN tasker_workflow_steps ws ON ws.task_uuid = t.task_uuid AND ws.current_state = 'enqueued'
    GROUP BY ns.name`
  for (const row of ready) yield* set(Metrics.stepsReady, { namespace: row.namespace }, row.n)

  const queues = yield* sql<{ queue_name: string; queue_length: bigint; oldest_msg_age_seconds: number | null }>`
    SELECT m.queue_name, m.queue_length, m.oldest_msg_age_seconds
    FROM tasker_queues q CROSS JOIN LATERAL tasker_queue_metrics(q.queue_name) m`
  for (const q of queues) {
    yield* set(Metrics.queueDepth, { queue: q.queue_name }, Number(q.queue_length))
    yield* set(Metrics.queueOldestMessageAge, { queue: q.queue_name }, (q.oldest_msg_age_seconds ?? 0) * 1000)
  }

  const connections = yield* sql<{ application_name: string; state: string; n: number }>`
    SELECT current_setting('application_name') AS application_name, COALESCE(state, 'unknown') AS state,
           count(*)::int AS n
    FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = current_setting('application_name')
    GROUP BY state`
  const applicationName = connections[0]?.application_name ??
    (yield* sql<{ name: string }>`SELECT current_setting('application_name') AS name`)[0]!.name
  const byConnectionState = new Map(connections.map((c) => [c.state, c.n]))
  // a state that had sessions at the last sample and has none now is set to 0, not left at its old value
  for (const state of new Set([...CONNECTION_STATES, ...byConnectionState.keys()])) {
    yield* set(
      Metrics.dbPoolConnections,
      { pool: "engine", application_name: applicationName, state },
      byConnectionState.get(state) ?? 0
    )
  }
}).pipe(Effect.withSpan("MetricsSampler.sample"))

/** Samples the gauges every `interval` while the layer lives. */
export const MetricsSamplerLayer = (interval: Duration.Input) =>
  Layer.effectDiscard(
    Effect.forkScoped(supervised("metrics.sampler", Effect.andThen(sampleGauges, Effect.sleep(interval)), "10 seconds"))
  )
