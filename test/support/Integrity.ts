/**
 * Checks that no request left half a task behind: every task has exactly its template's steps (by name), one edge
 * per declared dependency, an initial transition for itself and for each step; no step, edge or transition
 * belongs to a missing task or step, and no edge joins steps of two tasks. Also row counts of the tables a request
 * may write, for "nothing was written" checks.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** Row counts of every table a task request, a step action or a template registration writes. */
export const tableCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<Record<string, number>>`
    SELECT (SELECT count(*)::int FROM tasker_tasks) AS tasks,
           (SELECT count(*)::int FROM tasker_workflow_steps) AS steps,
           (SELECT count(*)::int FROM tasker_workflow_step_edges) AS edges,
           (SELECT count(*)::int FROM tasker_task_transitions) AS task_transitions,
           (SELECT count(*)::int FROM tasker_workflow_step_transitions) AS step_transitions,
           (SELECT count(*)::int FROM tasker_task_namespaces) AS namespaces,
           (SELECT count(*)::int FROM tasker_named_tasks) AS templates,
           (SELECT count(*)::int FROM tasker_named_steps) AS named_steps,
           (SELECT count(*)::int FROM tasker_dependent_systems) AS systems,
           (SELECT count(*)::int FROM tasker_queues) AS queues`
  return row!
})

/** Every way a task is incomplete or a row is orphaned (empty when every task is whole). */
export const halfTasks = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tasks = yield* sql<{
    task_uuid: string
    template: string
    step_names: ReadonlyArray<string> | null
    expected_names: ReadonlyArray<string> | null
    edges: number
    expected_edges: number
    steps_without_initial_transition: number
    task_initial_transitions: number
  }>`
    SELECT t.task_uuid::text,
           ns.name || '/' || nt.name || '@' || nt.version AS template,
           (SELECT array_agg(s.name ORDER BY s.name) FROM tasker_workflow_steps ws
              JOIN tasker_named_steps s ON s.named_step_uuid = ws.named_step_uuid
              WHERE ws.task_uuid = t.task_uuid) AS step_names,
           (SELECT array_agg(c ->> 'name' ORDER BY c ->> 'name')
              FROM jsonb_array_elements(nt.configuration -> 'steps') c) AS expected_names,
           (SELECT count(*)::int FROM tasker_workflow_step_edges e
              JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = e.to_step_uuid
              WHERE ws.task_uuid = t.task_uuid) AS edges,
           (SELECT coalesce(sum(jsonb_array_length(coalesce(c -> 'dependencies', '[]'::jsonb))), 0)::int
              FROM jsonb_array_elements(nt.configuration -> 'steps') c) AS expected_edges,
           (SELECT count(*)::int FROM tasker_workflow_steps ws
              WHERE ws.task_uuid = t.task_uuid AND NOT EXISTS (
                SELECT 1 FROM tasker_workflow_step_transitions st
                WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.sort_key = 1
                  AND st.from_state IS NULL AND st.to_state = 'pending')) AS steps_without_initial_transition,
           (SELECT count(*)::int FROM tasker_task_transitions tt
              WHERE tt.task_uuid = t.task_uuid AND tt.sort_key = 1 AND tt.from_state IS NULL
                AND tt.to_state = 'pending') AS task_initial_transitions
    FROM tasker_tasks t
    JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
    JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid`
  const problems: Array<string> = []
  for (const t of tasks) {
    const label = `task ${t.task_uuid} (${t.template})`
    const names = JSON.stringify(t.step_names ?? [])
    const expected = JSON.stringify(t.expected_names ?? [])
    if (names !== expected) problems.push(`${label}: steps ${names}, template has ${expected}`)
    if (t.edges !== t.expected_edges) problems.push(`${label}: ${t.edges} edges, template declares ${t.expected_edges}`)
    if (t.steps_without_initial_transition > 0) {
      problems.push(`${label}: ${t.steps_without_initial_transition} step(s) without their initial transition`)
    }
    if (t.task_initial_transitions !== 1) problems.push(`${label}: ${t.task_initial_transitions} initial transitions`)
  }
  const [orphans] = yield* sql<{
    steps: number
    edges: number
    cross_task_edges: number
    task_transitions: number
    step_transitions: number
  }>`
    SELECT (SELECT count(*)::int FROM tasker_workflow_steps ws
              WHERE NOT EXISTS (SELECT 1 FROM tasker_tasks t WHERE t.task_uuid = ws.task_uuid)) AS steps,
           (SELECT count(*)::int FROM tasker_workflow_step_edges e
              WHERE NOT EXISTS (SELECT 1 FROM tasker_workflow_steps ws WHERE ws.workflow_step_uuid = e.from_step_uuid)
                 OR NOT EXISTS (SELECT 1 FROM tasker_workflow_steps ws WHERE ws.workflow_step_uuid = e.to_step_uuid))
             AS edges,
           (SELECT count(*)::int FROM tasker_workflow_step_edges e
              JOIN tasker_workflow_steps a ON a.workflow_step_uuid = e.from_step_uuid
              JOIN tasker_workflow_steps b ON b.workflow_step_uuid = e.to_step_uuid
              WHERE a.task_uuid <> b.task_uuid) AS cross_task_edges,
           (SELECT count(*)::int FROM tasker_task_transitions tt
              WHERE NOT EXISTS (SELECT 1 FROM tasker_tasks t WHERE t.task_uuid = tt.task_uuid)) AS task_transitions,
           (SELECT count(*)::int FROM tasker_workflow_step_transitions st
              WHERE NOT EXISTS (SELECT 1 FROM tasker_workflow_steps ws
                                WHERE ws.workflow_step_uuid = st.workflow_step_uuid)) AS step_transitions`
  for (const [kind, n] of Object.entries(orphans!)) {
    if (n > 0) problems.push(`${n} orphaned ${kind.replace(/_/g, " ")}`)
  }
  return problems
})
