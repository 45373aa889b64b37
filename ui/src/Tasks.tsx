/**
 * The tasks table: newest first, paginated, filtered by namespace, template name, state and correlation ID; the
 * search box takes a task UUID (opens the task) or a correlation ID (filters by it).
 */
import { useState } from "react"
import { call } from "./api.ts"
import { fmtDate, useData, useNavigate } from "./hooks.ts"

export const TASK_STATES = [
  "pending", "initializing", "enqueuing_steps", "steps_in_process", "evaluating_results",
  "waiting_for_dependencies", "waiting_for_retry", "blocked_by_failures", "complete", "error", "cancelled",
  "resolved_manually"
] as const
type TaskStateName = typeof TASK_STATES[number]

/** A `datetime-local` value (taken as UTC) → an ISO 8601 date-time with its zone. */
const toIso = (local: string) => (local.length === 16 ? `${local}:00Z` : `${local}Z`)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const TasksView = (props: { readonly search: string }) => {
  const navigate = useNavigate()
  const params = new URLSearchParams(props.search)
  const [filters, setFilters] = useState({
    namespace: params.get("namespace") ?? "",
    name: params.get("name") ?? "",
    status: params.get("status") ?? "",
    correlation_id: params.get("correlation_id") ?? "",
    tag: params.get("tag") ?? "",
    created_after: params.get("created_after") ?? "",
    created_before: params.get("created_before") ?? "",
    q: params.get("q") ?? ""
  })
  const [page, setPage] = useState(1)
  const [q, setQ] = useState("")
  const [searchMessage, setSearchMessage] = useState<string | undefined>(undefined)
  const list = useData(
    () =>
      call((c) =>
        c.tasks.list({
          query: {
            page,
            per_page: 25,
            ...(filters.namespace !== "" ? { namespace: filters.namespace } : {}),
            ...(filters.name !== "" ? { name: filters.name } : {}),
            ...(filters.status !== "" ? { status: filters.status as TaskStateName } : {}),
            ...(UUID.test(filters.correlation_id) ? { correlation_id: filters.correlation_id } : {}),
            ...(filters.tag !== "" ? { tag: filters.tag } : {}),
            ...(filters.created_after !== "" ? { created_after: toIso(filters.created_after) } : {}),
            ...(filters.created_before !== "" ? { created_before: toIso(filters.created_before) } : {}),
            ...(UUID.test(filters.q) ? { q: filters.q } : {})
          }
        })
      ),
    [page, ...Object.values(filters)]
  )

  const search = async () => {
    const value = q.trim()
    setSearchMessage(undefined)
    if (!UUID.test(value)) return setSearchMessage("Enter a task UUID or a correlation ID (a UUID).")
    // the API's q: the task with that UUID, or the tasks of that correlation ID; a task UUID opens the task
    try {
      const found = await call((c) => c.tasks.list({ query: { q: value, per_page: 2 } }))
      if (found.tasks.length === 1 && found.tasks[0]!.task_uuid === value) return navigate(`/ui/tasks/${value}`)
      if (found.tasks.length === 0) return setSearchMessage(`No task or correlation ${value}.`)
      setPage(1)
      setFilters({ ...filters, q: value })
    } catch (e) {
      setSearchMessage(e instanceof Error ? e.message : String(e))
    }
  }

  const set = (key: keyof typeof filters) => (e: { target: { value: string } }) => {
    setPage(1)
    setFilters({ ...filters, [key]: e.target.value })
  }
  const p = list.data?.pagination
  return (
    <section>
      <h2>Tasks</h2>
      <form className="search" onSubmit={(e) => { e.preventDefault(); void search() }}>
        <input
          data-testid="search"
          placeholder="task UUID or correlation ID"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          size={40}
        />
        <button type="submit">Search</button>
        {searchMessage !== undefined && <span className="error">{searchMessage}</span>}
      </form>
      <div className="filters">
        <label>Namespace <input data-testid="filter-namespace" value={filters.namespace} onChange={set("namespace")} /></label>
        <label>Template <input data-testid="filter-name" value={filters.name} onChange={set("name")} /></label>
        <label>State
          <select data-testid="filter-status" value={filters.status} onChange={set("status")}>
            <option value="">any</option>
            {TASK_STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Correlation ID <input value={filters.correlation_id} onChange={set("correlation_id")} size={38} /></label>
        <label>Tag <input data-testid="filter-tag" value={filters.tag} onChange={set("tag")} /></label>
        <label>Created after (UTC) <input type="datetime-local" data-testid="filter-created-after" value={filters.created_after} onChange={set("created_after")} /></label>
        <label>Created before (UTC) <input type="datetime-local" data-testid="filter-created-before" value={filters.created_before} onChange={set("created_before")} /></label>
        {filters.q !== "" && (
          <label>Search <button type="button" data-testid="clear-q" onClick={() => setFilters({ ...filters, q: "" })}>{filters.q} ✕</button></label>
        )}
      </div>
      {list.error !== undefined && <p className="error">{list.error.message}</p>}
      <table data-testid="tasks-table">
        <thead>
          <tr><th>Task</th><th>Template</th><th>State</th><th>Correlation ID</th><th>Created</th></tr>
        </thead>
        <tbody>
          {list.data?.tasks.map((t) => (
            <tr key={t.task_uuid} className="clickable" data-testid="task-row" onClick={() => navigate(`/ui/tasks/${t.task_uuid}`)}>
              <td><a href={`/ui/tasks/${t.task_uuid}`} onClick={(e) => e.preventDefault()}><code>{t.task_uuid}</code></a></td>
              <td>{t.namespace}/{t.name}@{t.version}</td>
              <td><span className={`state state-${t.status}`}>{t.status}</span></td>
              <td><code>{t.correlation_id}</code></td>
              <td>{fmtDate(t.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p !== undefined && (
        <div className="pager">
          <button disabled={!p.has_previous} onClick={() => setPage(page - 1)}>Previous</button>
          <span data-testid="pagination">page {p.page} of {Math.max(1, p.total_pages)} · {p.total_count} tasks</span>
          <button disabled={!p.has_next} onClick={() => setPage(page + 1)}>Next</button>
        </div>
      )}
    </section>
  )
}
