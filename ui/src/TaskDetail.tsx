/**
 * One task: its identity (correlation, parent correlation), its DAG coloured by the steps' live states, the
 * selected step's inputs/result/error as JSON text, and the actions (cancel the task, retry a failed step,
 * resolve a step with a JSON result), each confirmed first. While the task is unfinished the page holds a
 * long-poll (`GET /v1/tasks/:task_uuid/wait`) and reloads when the task finishes, besides the live stream.
 */
import { Effect } from "effect"
import { useContext, useEffect, useState } from "react"
import { call, CallError } from "./api.ts"
import { ConfirmButton } from "./Confirm.tsx"
import { Dag, type DagStep, formatMs } from "./Dag.tsx"
import { fmtDate, UiConfigContext, useData, useNavigate } from "./hooks.ts"
import { Gantt } from "./Gantt.tsx"
import { JsonText } from "./JsonText.tsx"

/** The states `GET …/wait` returns at (a blocked task waits for an operator). */
const FINISHED = new Set(["complete", "error", "cancelled", "resolved_manually", "blocked_by_failures"])
/** The states nothing changes any more (no cancel, no resolve). */
const TERMINAL = new Set(["complete", "error", "cancelled", "resolved_manually"])

export const NotFound = (props: { readonly what: string }) => {
  const navigate = useNavigate()
  return (
    <section data-testid="not-found">
      <h2>Not found</h2>
      <p>{props.what}</p>
      <button onClick={() => navigate("/ui/tasks")}>Back to the tasks</button>
    </section>
  )
}

export const TaskDetailView = (props: { readonly taskUuid: string }) => {
  const { taskUuid } = props
  // the task with its steps' results, and its DAG (edges, durations), read together so they agree
  const task = useData(
    () =>
      Promise.all([
        call((c) => c.tasks.get({ params: { task_uuid: taskUuid as never } })),
        call((c) => c.dashboard.dag({ params: { task_uuid: taskUuid as never } }))
      ]).then(([detail, dag]) => ({ ...detail, dag })),
    [taskUuid]
  )
  const timeline = useData(() => call((c) => c.dashboard.timeline({ params: { task_uuid: taskUuid as never } })), [taskUuid])
  const trail = useData(() => call((c) => c.dashboard.transitions({ params: { task_uuid: taskUuid as never } })), [taskUuid])
  const uiConfig = useContext(UiConfigContext)
  const [selected, setSelected] = useState<string | undefined>(undefined)

  // hold a long-poll while the task runs: the page reloads the moment it finishes
  const status = task.data?.status
  const reload = task.reload
  useEffect(() => {
    if (status === undefined || FINISHED.has(status)) return
    let stop = false
    void call((c) =>
      c.tasks.wait({ params: { task_uuid: taskUuid as never }, query: { timeout_ms: 25_000 } }).pipe(
        Effect.timeout("30 seconds")
      )
    ).then(
      () => !stop && reload(),
      () => {}
    )
    return () => {
      stop = true
    }
  }, [status, taskUuid])

  if (task.error?.status === 404 || task.error?.status === 400) {
    return <NotFound what={`No task ${taskUuid}: ${task.error.message}`} />
  }
  if (task.data === undefined) {
    return <p>{task.error !== undefined ? <span className="error">{task.error.message}</span> : "Loading…"}</p>
  }
  const t = task.data
  const names = new Map(t.dag.steps.map((d) => [d.step_uuid, d.name]))
  const dagSteps: ReadonlyArray<DagStep> = t.dag.steps.map((d) => ({
    name: d.name,
    dependencies: t.dag.edges.filter((e) => e.to === d.step_uuid).map((e) => names.get(e.from) ?? ""),
    state: d.state,
    attempts: d.attempts,
    maxAttempts: d.max_attempts,
    durationMs: d.duration_ms
  }))
  const traceUrl = t.trace_id !== null && uiConfig?.trace_url_template
    ? uiConfig.trace_url_template.replaceAll("{traceId}", encodeURIComponent(t.trace_id))
    : undefined
  const step = t.steps.find((s) => s.name === selected)
  const results = step?.results as { success?: boolean; result?: unknown; error?: unknown; metadata?: unknown } | null
  const terminal = TERMINAL.has(t.status)

  return (
    <section>
      <h2>
        Task <code data-testid="task-uuid">{t.task_uuid}</code>{" "}
        <span className={`state state-${t.status}`} data-testid="task-status">{t.status}</span>
      </h2>
      <dl className="identity">
        <dt>Template</dt>
        <dd>{t.namespace}/{t.name}@{t.version}</dd>
        <dt>Correlation ID</dt>
        <dd><code data-testid="correlation-id">{t.correlation_id}</code></dd>
        <dt>Parent correlation</dt>
        <dd>
          {t.parent_correlation_id === null ? "—" : (
            <a href={`/ui/tasks?correlation_id=${t.parent_correlation_id}`}><code>{t.parent_correlation_id}</code></a>
          )}
        </dd>
        <dt>Trace ID</dt>
        <dd data-testid="trace-id">
          {t.trace_id === null ? "—" : traceUrl === undefined ? <code>{t.trace_id}</code> : (
            <a href={traceUrl} target="_blank" rel="noopener noreferrer"><code>{t.trace_id}</code></a>
          )}
        </dd>
        <dt>Created</dt>
        <dd>{fmtDate(t.created_at)}</dd>
        <dt>Completed</dt>
        <dd>{fmtDate(t.completed_at)}</dd>
        <dt>Progress</dt>
        <dd>{t.execution.completed_steps}/{t.execution.total_steps} steps ({t.execution.execution_status})</dd>
      </dl>
      {t.warnings?.map((w) => <p className="warning" key={w.code}>{w.message}</p>)}
      <div className="actions">
        {!terminal && (
          <ConfirmButton
            label="Cancel task"
            title={`Cancel task ${t.task_uuid}?`}
            testId="cancel-task"
            danger
            action={() => call((c) => c.tasks.cancel({ params: { task_uuid: t.task_uuid } }))}
            onDone={task.reload}
          >
            <p>Its unfinished steps are cancelled too. This cannot be undone.</p>
          </ConfirmButton>
        )}
      </div>
      <h3>Steps</h3>
      <Dag steps={dagSteps} selected={selected} onSelect={setSelected} />
      {step !== undefined && (
        <div className="step-panel" data-testid="step-panel">
          <h3>
            Step {step.name} <span className={`state state-${step.current_state}`}>{step.current_state}</span>
          </h3>
          <p>
            Attempts {step.attempts}/{step.max_attempts} · retryable {String(step.retryable)} · last attempt{" "}
            {fmtDate(step.last_attempted_at)} · next retry {fmtDate(step.next_retry_at)}
            {step.completed_at !== null && step.last_attempted_at !== null
              ? ` · took ${formatMs(step.completed_at.getTime() - step.last_attempted_at.getTime())}`
              : ""}
          </p>
          <div className="actions">
            {step.current_state === "error" && (
              <ConfirmButton
                label="Retry step"
                title={`Retry step ${step.name}?`}
                testId="retry-step"
                action={() =>
                  call((c) =>
                    c.tasks.updateStep({
                      params: { task_uuid: t.task_uuid, step_uuid: step.step_uuid },
                      payload: { action: "retry" }
                    })
                  )}
                onDone={task.reload}
              >
                <p>The step goes back to pending with a fresh attempt budget.</p>
              </ConfirmButton>
            )}
            {!terminal && <ResolveButton taskUuid={t.task_uuid} stepUuid={step.step_uuid} name={step.name} onDone={task.reload} />}
          </div>
          <h4>Inputs</h4>
          <JsonText value={step.inputs} name={`${step.name}-inputs`} />
          {results?.error !== undefined && results.error !== null && (
            <>
              <h4>Error</h4>
              <JsonText value={results.error} name={`${step.name}-error`} />
            </>
          )}
          <h4>Result</h4>
          <JsonText value={results?.result ?? null} name={`${step.name}-result`} />
          {results?.metadata !== undefined && results.metadata !== null && (
            <>
              <h4>Metadata</h4>
              <JsonText value={results.metadata} name={`${step.name}-metadata`} />
            </>
          )}
        </div>
      )}
      <table className="steps">
        <thead>
          <tr><th>Step</th><th>State</th><th>Attempts</th><th>Last attempt</th><th>Completed</th></tr>
        </thead>
        <tbody>
          {t.steps.map((s) => (
            <tr key={s.step_uuid} onClick={() => setSelected(s.name)} className="clickable">
              <td>{s.name}</td>
              <td><span className={`state state-${s.current_state}`}>{s.current_state}</span></td>
              <td>{s.attempts}/{s.max_attempts}</td>
              <td>{fmtDate(s.last_attempted_at)}</td>
              <td>{fmtDate(s.completed_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Timeline</h3>
      {timeline.data !== undefined && <Gantt timeline={timeline.data} />}
      <h3>Audit trail</h3>
      <table data-testid="audit-trail">
        <thead><tr><th>At</th><th>What</th><th>From</th><th>To</th><th>Actor</th><th>Metadata</th></tr></thead>
        <tbody>
          {trail.data?.transitions.map((tr, i) => (
            <tr key={i}>
              <td>{fmtDate(tr.at)}</td>
              <td>{tr.kind === "task" ? "task" : `step ${tr.step_name ?? ""}`}</td>
              <td>{tr.from_state ?? "—"}</td>
              <td>{tr.to_state}</td>
              <td>{tr.actor ?? "—"}</td>
              <td><code className="metadata">{tr.metadata === null ? "" : JSON.stringify(tr.metadata)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

const ResolveButton = (props: {
  readonly taskUuid: string
  readonly stepUuid: string
  readonly name: string
  readonly onDone: () => void
}) => {
  const [text, setText] = useState("{}")
  const [by, setBy] = useState("dashboard")
  const [reason, setReason] = useState("resolved from the dashboard")
  return (
    <ConfirmButton
      label="Resolve step…"
      title={`Resolve step ${props.name} by hand?`}
      testId="resolve-step"
      action={async () => {
        let result: unknown
        try {
          result = JSON.parse(text)
        } catch (e) {
          throw new CallError(undefined, `result_data is not JSON: ${(e as Error).message}`)
        }
        return call((c) =>
          c.tasks.updateStep({
            params: { task_uuid: props.taskUuid as never, step_uuid: props.stepUuid as never },
            payload: { action: "resolve", result_data: result as never, resolved_by: by, reason }
          })
        )
      }}
      onDone={props.onDone}
    >
      <label>Result (JSON; its dependents receive it)
        <textarea data-testid="resolve-result" value={text} onChange={(e) => setText(e.target.value)} rows={5} />
      </label>
      <label>Resolved by <input value={by} onChange={(e) => setBy(e.target.value)} /></label>
      <label>Reason <input value={reason} onChange={(e) => setReason(e.target.value)} /></label>
    </ConfirmButton>
  )
}
