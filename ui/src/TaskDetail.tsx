/**
 * One task: its identity (correlation, parent correlation), its DAG coloured by the steps' live states, the
 * selected step's inputs/result/error as JSON text, and the actions (cancel the task, retry a failed step,
 * resolve a step with a JSON result), each confirmed first. While the task is unfinished the page holds a
 * long-poll (`GET /v1/tasks/:task_uuid/wait`) and reloads when the task finishes, besides the live stream.
 */
import { Effect } from "effect"
import { useEffect, useMemo, useState } from "react"
import { call, CallError } from "./api.ts"
import { ConfirmButton } from "./Confirm.tsx"
import { Dag, type DagStep, formatMs } from "./Dag.tsx"
import { fmtDate, useData, useNavigate } from "./hooks.ts"
import { JsonText } from "./JsonText.tsx"

/** The states `GET …/wait` returns at (a blocked task waits for an operator). */
const FINISHED = new Set(["complete", "error", "cancelled", "resolved_manually", "blocked_by_failures"])
/** The states nothing changes any more (no cancel, no resolve). */
const TERMINAL = new Set(["complete", "error", "cancelled", "resolved_manually"])

interface TemplateStepConfig {
  readonly name: string
  readonly dependencies?: ReadonlyArray<string>
}

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
  const task = useData(
    () => call((c) => c.tasks.get({ params: { task_uuid: taskUuid as never } })),
    [taskUuid]
  )
  const namespace = task.data?.namespace
  const name = task.data?.name
  const version = task.data?.version
  const template = useData(
    () =>
      namespace === undefined || name === undefined
        ? Promise.resolve(undefined)
        : call((c) => c.templates.versions({ params: { namespace, name } })),
    [namespace, name]
  )
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

  const configSteps = useMemo((): ReadonlyArray<TemplateStepConfig> => {
    const v = template.data?.versions.find((t) => t.version === version)
    const conf = v?.configuration as { steps?: ReadonlyArray<TemplateStepConfig> } | null | undefined
    return conf?.steps ?? []
  }, [template.data, version])

  if (task.error?.status === 404 || task.error?.status === 400) {
    return <NotFound what={`No task ${taskUuid}: ${task.error.message}`} />
  }
  if (task.data === undefined) {
    return <p>{task.error !== undefined ? <span className="error">{task.error.message}</span> : "Loading…"}</p>
  }
  const t = task.data
  const deps = new Map(configSteps.map((s) => [s.name, s.dependencies ?? []]))
  const dagSteps: ReadonlyArray<DagStep> = t.steps.map((s) => ({
    name: s.name,
    dependencies: deps.get(s.name) ?? [],
    state: s.current_state,
    attempts: s.attempts,
    maxAttempts: s.max_attempts,
    durationMs: s.completed_at !== null && s.last_attempted_at !== null
      ? s.completed_at.getTime() - s.last_attempted_at.getTime()
      : null
  }))
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
        <dd><code>{t.parent_correlation_id ?? "—"}</code></dd>
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
