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
import { checkAgainstSchema } from "./schemaCheck.ts"

export const TemplatesView = () => {
  const index = useData(() => call((c) => c.templates.list()), [])
  const [selected, setSelected] = useState<{ namespace: string; name: string; version: string } | undefined>(undefined)
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
              onClick={() => setSelected({ namespace: t.namespace, name: t.name, version: t.version })}
            >
              <td>{t.namespace}</td><td>{t.name}</td><td>{t.version}</td><td>{t.step_names.join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected !== undefined && <TemplateDetail key={`${selected.namespace}/${selected.name}@${selected.version}`} {...selected} />}
    </section>
  )
}

const TemplateDetail = (props: { readonly namespace: string; readonly name: string; readonly version: string }) => {
  const navigate = useNavigate()
  const template = useData(
    () => call((c) => c.dashboard.template({ params: { namespace: props.namespace, name: props.name, version: props.version } })),
    [props.namespace, props.name, props.version]
  )
  const t = template.data
  if (t === undefined) return template.error ? <p className="error">{template.error.message}</p> : null
  return (
    <div className="template-detail" data-testid="template-detail">
      <h3>{t.namespace}/{t.name}@{t.version}</h3>
      {t.description !== null && <p>{t.description}</p>}
      <p>
        <a
          href={`/ui/tasks?namespace=${t.namespace}&name=${t.name}`}
          data-testid="task-count"
          onClick={(e) => { e.preventDefault(); navigate(`/ui/tasks?namespace=${t.namespace}&name=${t.name}`) }}
        >
          {t.task_count} task{t.task_count === 1 ? "" : "s"} of this template
        </a>
      </p>
      <Dag steps={t.steps.map((s) => ({ name: s.name, dependencies: s.depends_on }))} />
      <h4>Retry policies</h4>
      <table data-testid="retry-policies">
        <thead><tr><th>Step</th><th>Depends on</th><th>Retryable</th><th>Max attempts</th><th>Backoff</th><th>Timeout</th></tr></thead>
        <tbody>
          {t.steps.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>{s.depends_on.join(", ") || "—"}</td>
              <td>{String(s.retryable)}</td>
              <td>{s.max_attempts}</td>
              <td>{s.backoff} from {s.backoff_base_ms} ms up to {s.max_backoff_ms} ms</td>
              <td>{s.timeout_seconds === null ? "—" : `${s.timeout_seconds} s`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Input schema</h4>
      <JsonText value={t.input_schema} name="input-schema" />
      <CreateTaskForm namespace={t.namespace} name={t.name} version={t.version} inputSchema={t.input_schema} />
    </div>
  )
}

const CreateTaskForm = (props: {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly inputSchema: unknown
}) => {
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
    const problem = checkAgainstSchema(parsed, props.inputSchema)
    if (problem !== undefined) return setError(`${problem} (the template's input schema)`)
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
