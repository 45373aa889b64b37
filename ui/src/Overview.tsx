/**
 * The overview (`GET /v1/overview`, computed from the engine's tables): tasks by state, tasks created, completed
 * and failed per minute over the last hour, step attempts of the last hour with p50/p95 durations, the queues
 * (depth, oldest message, dead letters) and the live engine processes.
 */
import { call } from "./api.ts"
import { PerMinuteChart } from "./Chart.tsx"
import { formatMs, STATE_COLORS } from "./Dag.tsx"
import { fmtDate, useData, useNavigate } from "./hooks.ts"
import { TASK_STATES } from "./Tasks.tsx"

const ms = (v: number | null) => (v === null ? "—" : formatMs(v))
const age = (s: number | null) => (s === null ? "—" : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`)

export const OverviewView = () => {
  const navigate = useNavigate()
  const overview = useData(() => call((c) => c.dashboard.overview()), [])
  const o = overview.data
  const total = o === undefined ? undefined : Object.values(o.tasks_by_state).reduce((n, c) => n + c, 0)
  return (
    <section>
      <h2>Overview</h2>
      {overview.error !== undefined && <p className="error">{overview.error.message}</p>}
      {o !== undefined && (
        <>
          <h3>Tasks by state <small data-testid="total-tasks">({total} in all)</small></h3>
          <div className="cards">
            {TASK_STATES.map((status) => {
              const n = o.tasks_by_state[status] ?? 0
              return (
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
              )
            })}
          </div>
          <h3>Tasks per minute, last hour</h3>
          <PerMinuteChart rows={o.tasks_per_minute} />
          <h3>Steps, last hour</h3>
          <p data-testid="step-stats">
            {o.steps.completed_last_hour} completed · {o.steps.failed_last_hour} failed · p50 {ms(o.steps.p50_ms)} · p95{" "}
            {ms(o.steps.p95_ms)}
          </p>
          <h3>Queues</h3>
          <table data-testid="queues">
            <thead><tr><th>Queue</th><th>Depth</th><th>Oldest message</th><th>Dead letters</th></tr></thead>
            <tbody>
              {o.queues.map((q) => (
                <tr key={q.queue}>
                  <td>{q.queue}</td>
                  <td>{q.depth}</td>
                  <td>{age(q.oldest_age_seconds)}</td>
                  <td>
                    {q.dead_letters > 0
                      ? <a href={`/ui/dead-letters?queue=${q.queue}`} onClick={(e) => { e.preventDefault(); navigate(`/ui/dead-letters?queue=${q.queue}`) }}>{q.dead_letters}</a>
                      : 0}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Processors</h3>
          <table data-testid="processors">
            <thead><tr><th>Processor</th><th>Role</th><th>Host</th><th>Heartbeat</th><th>Running steps</th></tr></thead>
            <tbody>
              {o.processors.map((p) => (
                <tr key={p.processor_uuid}>
                  <td><code>{p.processor_uuid}</code></td>
                  <td>{p.role}</td>
                  <td>{p.hostname ?? "—"}</td>
                  <td>{age(p.heartbeat_age_seconds)} ago</td>
                  <td>{p.running_steps}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">Generated {fmtDate(o.generated_at)}</p>
        </>
      )}
    </section>
  )
}
