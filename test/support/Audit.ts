/**
 * Audits the transition tables against the state machines: every recorded transition must be one the machine
 * allows for its recorded event (`metadata.event`), sort keys must run 1..n without gaps, each row must start
 * where the previous one ended, and the last row of each task and step must match its current_state. Also audits
 * the counters the engine keeps beside the states: a pending step's unfinished parents, a step that left pending
 * has none, and a task's active steps.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { stepTransitionRules, type StepEventTag } from "../../src/domain/StepStateMachine.ts"
import { taskTransitionRules, type TaskEventTag } from "../../src/domain/TaskStateMachine.ts"

interface Row {
  readonly id: string
  readonly from_state: string | null
  readonly to_state: string
  readonly event: string | null
  readonly sort_key: number
  readonly current_state: string
}

const check = (
  rows: ReadonlyArray<Row>,
  rules: Readonly<Record<string, { readonly from: ReadonlyArray<string>; readonly to: string | null }>>,
  kind: string
) => {
  const problems: Array<string> = []
  const byId = new Map<string, Array<Row>>()
  for (const row of rows) {
    const list = byId.get(row.id) ?? []
    list.push(row)
    byId.set(row.id, list)
    if (row.from_state === null) {
      if (row.to_state !== "pending" || row.event !== "Create") problems.push(`${kind} ${row.id}: initial transition to ${row.to_state}`)
      continue
    }
    const rule = row.event === null ? undefined : rules[row.event]
    if (rule === undefined) {
      problems.push(`${kind} ${row.id}: unknown event ${row.event} (${row.from_state} -> ${row.to_state})`)
      continue
    }
    const to = rule.to ?? row.from_state
    if (!rule.from.includes(row.from_state) || to !== row.to_state) {
      problems.push(`${kind} ${row.id}: illegal ${row.from_state} --${row.event}--> ${row.to_state}`)
    }
  }
  for (const [id, list] of byId) {
    list.sort((a, b) => a.sort_key - b.sort_key)
    list.forEach((row, i) => {
      if (row.sort_key !== i + 1) problems.push(`${kind} ${id}: sort_key gap at ${row.sort_key}`)
      if (i > 0 && row.from_state !== list[i - 1]!.to_state) {
        problems.push(`${kind} ${id}: transition ${row.sort_key} starts from ${row.from_state}, previous ended in ${list[i - 1]!.to_state}`)
      }
    })
    const current = list.at(-1)!
    if (current.to_state !== current.current_state) {
      problems.push(`${kind} ${id}: current_state ${current.current_state} != latest transition ${current.to_state}`)
    }
  }
  return problems
}

/** Every problem found in the transition tables (empty when all is consistent). */
export const auditTransitions = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tasks = yield* sql<Row>`
    SELECT tt.task_uuid::text AS id, tt.from_state, tt.to_state, tt.metadata ->> 'event' AS event, tt.sort_key,
           t.current_state
    FROM tasker_task_transitions tt JOIN tasker_tasks t ON t.task_uuid = tt.task_uuid`
  const steps = yield* sql<Row>`
    SELECT st.workflow_step_uuid::text AS id, st.from_state, st.to_state, st.metadata ->> 'event' AS event,
           st.sort_key, ws.current_state
    FROM tasker_workflow_step_transitions st JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = st.workflow_step_uuid`
  const counters = yield* sql<{ problem: string }>`
    SELECT format('step %s (%s): %s unfinished parents, %s by its parents', ws.workflow_step_uuid, ws.current_state,
                  ws.unfinished_parents, p.unfinished) AS problem
    FROM tasker_workflow_steps ws
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE parent.current_state NOT IN ('complete', 'resolved_manually'))::int AS unfinished
      FROM tasker_workflow_step_edges e JOIN tasker_workflow_steps parent ON parent.workflow_step_uuid = e.from_step_uuid
      WHERE e.to_step_uuid = ws.workflow_step_uuid) p
    WHERE (ws.current_state = 'pending' AND ws.unfinished_parents <> p.unfinished)
       OR (ws.current_state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration',
                                'enqueued_as_error_for_orchestration') AND ws.unfinished_parents <> 0)
    UNION ALL
    SELECT format('task %s (%s): %s active steps, %s counted', t.task_uuid, t.current_state, t.active_steps, a.active)
    FROM tasker_tasks t
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS active FROM tasker_workflow_steps ws WHERE ws.task_uuid = t.task_uuid
        AND ws.current_state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration',
                                 'enqueued_as_error_for_orchestration')) a
    WHERE t.active_steps <> a.active`
  return [
    ...counters.map((r) => r.problem),
    ...check(tasks, taskTransitionRules as Record<TaskEventTag, { from: ReadonlyArray<string>; to: string | null }>, "task"),
    ...check(steps, stepTransitionRules as Record<StepEventTag, { from: ReadonlyArray<string>; to: string }>, "step")
  ]
})
