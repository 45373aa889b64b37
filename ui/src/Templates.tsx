/**
 * The templates: each stored version with its DAG, its steps' retry policies, its input schema, how many tasks of
 * it exist, and a form creating a task (the context must be a JSON object; the server validates it against the
 * template's input schema and its 422 names the field).
 */
import { useState } from "react"
import { call, CallError } from "./api.ts"
import { Dag } from "./Dag.tsx"
import { useData, useNavigate } from "./hooks.ts"
import { JsonText } from "./JsonText.tsx"

interface StepConfig {
  readonly name: string
  readonly dependencies?: ReadonlyArray<string>
  readonly retry?: {
    readonly retryable?: boolean
    readonly max_attempts?: number
    readonly backoff?: string
    readonly backoff_base_ms?: number
    readonly max_backoff_ms?: number
  }
}
interface Configuration {
  readonly steps?: ReadonlyArray<StepConfig>
  readonly input_schema?: unknown
}

export const TemplatesView = () => {
  const index = useData(() => call((c) => c.templates.list()), [])
  const [selected, setSelected] = useState<{ namespace: string; name: string } | undefined>(undefined)
  return (
    <section>
      <h2>Templates</h2>
      {index.error !== undefined && <p className="error">{index.error.message}</p>}
      <table data-testid="templates-table">
        <thead><tr><th>Namespace</th><th>Name</th><th>Version</th><th>Steps</th></tr></thead>
        <tbody>
          {index.data?.templates.map((t) => (
            <tr
              key={`${t.namespace}/${t.name}@${t.version}`}
              className="clickable"
              data-testid={`template-${t.namespace}-${t.name}`}
              onClick={() => setSelected({ namespace: t.namespace, name: t.name })}
            >
              <td>{t.namespace}</td><td>{t.name}</td><td>{t.version}</td><td>{t.step_names.join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected !== undefined && <TemplateDetail key={`${selected.namespace}/${selected.name}`} {...selected} />}
    </section>
  )
}

const TemplateDetail = (props: { readonly namespace: string; readonly name: string }) => {
  const versions = useData(
    () => call((c) => c.templates.versions({ params: { namespace: props.namespace, name: props.name } })),
    [props.namespace, props.name]
  )
  const count = useData(
    () => call((c) => c.tasks.list({ query: { namespace: props.namespace, name: props.name, per_page: 1 } })),
    [props.namespace, props.name]
  )
  const latest = versions.data?.versions.at(-1)
  if (latest === undefined) return versions.error ? <p className="error">{versions.error.message}</p> : null
  const conf = (latest.configuration ?? {}) as Configuration
  const steps = conf.steps ?? []
  return (
    <div className="template-detail" data-testid="template-detail">
      <h3>{props.namespace}/{props.name}@{latest.version}</h3>
      {latest.description !== null && <p>{latest.description}</p>}
      <p data-testid="task-count">
        {count.data?.pagination.total_count ?? "…"} task{count.data?.pagination.total_count === 1 ? "" : "s"} of
        this template
      </p>
      <Dag steps={steps.map((s) => ({ name: s.name, dependencies: s.dependencies ?? [] }))} />
      <h4>Retry policies</h4>
      <table>
        <thead><tr><th>Step</th><th>Depends on</th><th>Retryable</th><th>Max attempts</th><th>Backoff</th></tr></thead>
        <tbody>
          {steps.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>{(s.dependencies ?? []).join(", ") || "—"}</td>
              <td>{String(s.retry?.retryable ?? "—")}</td>
              <td>{s.retry?.max_attempts ?? "—"}</td>
              <td>
                {s.retry?.backoff ?? "—"}
                {s.retry?.backoff_base_ms !== undefined ? ` from ${s.retry.backoff_base_ms} ms` : ""}
                {s.retry?.max_backoff_ms !== undefined ? ` up to ${s.retry.max_backoff_ms} ms` : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Input schema</h4>
      <JsonText value={conf.input_schema ?? null} name="input-schema" />
      <CreateTaskForm namespace={props.namespace} name={props.name} version={latest.version} />
    </div>
  )
}

const CreateTaskForm = (props: { readonly namespace: string; readonly name: string; readonly version: string }) => {
  const navigate = useNavigate()
  const [context, setContext] = useState("{}")
  const [error, setError] = useState<string | undefined>(undefined)
  const submit = async () => {
    setError(undefined)
    let parsed: unknown
    try {
      parsed = JSON.parse(context)
    } catch (e) {
      return setError(`context: not JSON (${(e as Error).message})`)
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return setError("context: must be a JSON object")
    }
    try {
      const created = await call((c) =>
        c.tasks.create({
          payload: { namespace: props.namespace, name: props.name, version: props.version, context: parsed as never },
          headers: {}
        })
      )
      navigate(`/ui/tasks/${created.task_uuid}`)
    } catch (e) {
      const err = e instanceof CallError ? e : new CallError(undefined, String(e))
      setError(err.field !== undefined ? `${err.field}: ${err.message}` : err.message)
    }
  }
  return (
    <form className="create-task" onSubmit={(e) => { e.preventDefault(); void submit() }}>
      <h4>Create a task</h4>
      <label>Context (JSON object)
        <textarea data-testid="create-context" rows={6} value={context} onChange={(e) => setContext(e.target.value)} />
      </label>
      {error !== undefined && <p className="error" data-testid="create-error">{error}</p>}
      <button type="submit" className="primary" data-testid="create-task">Create task</button>
    </form>
  )
}
