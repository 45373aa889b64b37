/**
 * The overview: how many tasks are in each state (the list endpoint's own `total_count` per state, i.e. the
 * engine's query, no second bookkeeping) and the registered templates.
 */
import { Effect } from "effect"
import { call } from "./api.ts"
import { STATE_COLORS } from "./Dag.tsx"
import { useData, useNavigate } from "./hooks.ts"
import { TASK_STATES } from "./Tasks.tsx"

export const OverviewView = () => {
  const navigate = useNavigate()
  const counts = useData(
    () =>
      call((c) =>
        Effect.forEach(
          TASK_STATES,
          (status) =>
            c.tasks.list({ query: { status, per_page: 1 } }).pipe(
              Effect.map((l) => [status, l.pagination.total_count] as const)
            ),
          { concurrency: 4 }
        )
      ),
    []
  )
  const templates = useData(() => call((c) => c.templates.list()), [])
  const total = counts.data?.reduce((n, [, c]) => n + c, 0)
  return (
    <section>
      <h2>Overview</h2>
      {counts.error !== undefined && <p className="error">{counts.error.message}</p>}
      <h3>Tasks by state {total !== undefined && <small data-testid="total-tasks">({total} in all)</small>}</h3>
      <div className="cards">
        {counts.data?.map(([status, n]) => (
          <button
            key={status}
            className="card"
            data-testid={`count-${status}`}
            data-count={n}
            style={{ borderColor: STATE_COLORS[status] ?? "#ccc" }}
            onClick={() => navigate(`/ui/tasks?status=${status}`)}
          >
            <div className="card-number">{n}</div>
            <div className="card-label">{status}</div>
          </button>
        ))}
      </div>
      <h3>Templates</h3>
      <ul>
        {templates.data?.namespaces.map((ns) => (
          <li key={ns.name}>{ns.name}: {ns.template_count} template{ns.template_count === 1 ? "" : "s"}</li>
        ))}
      </ul>
    </section>
  )
}
