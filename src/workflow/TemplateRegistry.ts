/**
 * Template registration and lookup. Registering validates a template and writes it to the database (namespace,
 * task type with its configuration, dependent systems, step types) and creates its namespace's worker queue; any
 * process can then create tasks from it, including one that hosts no handlers (templates are read back from the
 * database when they are not registered locally). A version is meant to be immutable: registering the same
 * (namespace, name, version) again replaces the stored configuration.
 */
import { Context, Effect, Layer, Result, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { NamedStepUuid, NamedTaskUuid } from "../domain/Ids.ts"
import type { StepSpec } from "../db/EngineFunctions.ts"
import { workerQueueName } from "../messaging/Channels.ts"
import { createTemplateSeries, type TemplateSeries } from "../telemetry/InitialSeries.ts"
import {
  fromConfiguration,
  InvalidTemplate,
  TemplateConfiguration,
  templateKey,
  templateProblems,
  toConfiguration,
  validateWorkflow,
  type WorkflowDefinition
} from "./Workflow.ts"

export class TemplateNotFound extends Schema.TaggedError<TemplateNotFound>()("TemplateNotFound", {
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String
}) {
  override get message(): string {
    return `task template not found: ${this.namespace}/${this.name}@${this.version}`
  }
}

/**
 * A stored template that fails registration's checks (other than handlers): its configuration does not decode, its
 * graph has a cycle or an unknown dependency, its namespace cannot name a queue, … — written by something else
 * than `register` (an older version, a hand-made row). No task can be created from it until a fixed version is
 * registered; the API answers 409.
 */
export class InvalidStoredTemplate extends Schema.TaggedError<InvalidStoredTemplate>()("InvalidStoredTemplate", {
  template: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid template ${this.template}: ${this.problems.join("; ")}`
  }
}

/** A template as stored: its definition plus the database ids task creation needs. */
export interface RegisteredTemplate {
  readonly key: string
  readonly definition: WorkflowDefinition<unknown>
  readonly namedTaskUuid: NamedTaskUuid
  /** the steps in the form `tasker_create_task` takes */
  readonly stepSpecs: ReadonlyArray<StepSpec>
}

export class TemplateRegistry extends Context.Service<TemplateRegistry, {
  /** Validates and stores a template; with `requireHandlers` every step must have a handler. */
  readonly register: <R>(
    template: WorkflowDefinition<R>,
    options?: { readonly requireHandlers?: boolean }
  ) => Effect.Effect<RegisteredTemplate, InvalidTemplate | SqlError.SqlError>
  /**
   * A registered template, from this process or the database. A stored template whose configuration does not
   * decode or that fails registration's checks other than handlers (`templateProblems`: a cycle, an unknown
   * dependency, a duplicate step, a namespace that cannot name a queue, …) fails with `InvalidStoredTemplate`
   * naming the steps, found before anything is written.
   */
  readonly resolve: (
    namespace: string,
    name: string,
    version: string
  ) => Effect.Effect<RegisteredTemplate, TemplateNotFound | InvalidStoredTemplate | SqlError.SqlError>
  /** Every template stored in the database (newest version last within a name). */
  readonly listStored: Effect.Effect<ReadonlyArray<StoredTemplate>, SqlError.SqlError>
}>()("tasker/workflow/TemplateRegistry") {
  static readonly layer = Layer.effect(
    TemplateRegistry,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const cache = new Map<string, RegisteredTemplate>()

      const stepSpecs = (definition: WorkflowDefinition<unknown>, namedSteps: ReadonlyMap<string, NamedStepUuid>) =>
        definition.steps.map((step): StepSpec => ({
          name: step.name,
          named_step_uuid: namedSteps.get(`${step.system}/${step.name}`)!,
          retryable: step.retry.retryable,
          max_attempts: step.retry.maxAttempts,
          backoff: step.retry.backoff,
          backoff_base_ms: Math.round(step.retry.backoffBaseMs),
          max_backoff_ms: Math.round(step.retry.maxBackoffMs),
          timeout_seconds: step.timeoutSeconds ?? null,
          inputs: step.inputs,
          depends_on: step.dependsOn
        }))

      /** Upserts the systems and step types of a template; returns `system/name` → uuid. */
      const upsertNamedSteps = (definition: WorkflowDefinition<unknown>) =>
        Effect.gen(function*() {
          const systems = [...new Set(definition.steps.map((s) => s.system))]
          const map = new Map<string, NamedStepUuid>()
          if (definition.steps.length === 0) return map
          yield* sql`INSERT INTO tasker_dependent_systems (name)
                     SELECT unnest(${systems}::varchar[]) ON CONFLICT (name) DO NOTHING`
          const rows = yield* sql<{ system: string; name: string; named_step_uuid: NamedStepUuid }>`
            WITH wanted AS (
              SELECT * FROM unnest(${definition.steps.map((s) => s.system)}::varchar[],
                                   ${definition.steps.map((s) => s.name)}::varchar[]) AS w(system, name)
            ),
            inserted AS (
              INSERT INTO tasker_named_steps (dependent_system_uuid, name)
              SELECT ds.dependent_system_uuid, w.name FROM wanted w
              JOIN tasker_dependent_systems ds ON ds.name = w.system
              ON CONFLICT (dependent_system_uuid, name) DO NOTHING
              RETURNING dependent_system_uuid, name, named_step_uuid
            )
            SELECT ds.name AS system, ns.name, ns.named_step_uuid
            FROM wanted w
            JOIN tasker_dependent_systems ds ON ds.name = w.system
            JOIN tasker_named_steps ns ON ns.dependent_system_uuid = ds.dependent_system_uuid AND ns.name = w.name
            UNION
            SELECT ds.name, i.name, i.named_step_uuid FROM inserted i
            JOIN tasker_dependent_systems ds ON ds.dependent_system_uuid = i.dependent_system_uuid`
          for (const row of rows) map.set(`${row.system}/${row.name}`, row.named_step_uuid)
          return map
        })

      const register = Effect.fn("TemplateRegistry.register")(function*<R>(
        template: WorkflowDefinition<R>,
        options?: { readonly requireHandlers?: boolean }
      ) {
        const valid = validateWorkflow(template, options)
        if (Result.isFailure(valid)) return yield* valid.failure
        const definition = template as WorkflowDefinition<unknown>
        const configuration = JSON.stringify(toConfiguration(definition))
        const registered = yield* sql.withTransaction(Effect.gen(function*() {
          const [ns] = yield* sql<{ task_namespace_uuid: string }>`
            INSERT INTO tasker_task_namespaces (name) VALUES (${definition.namespace})
            ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING task_namespace_uuid`
          const [nt] = yield* sql<{ named_task_uuid: NamedTaskUuid }>`
            INSERT INTO tasker_named_tasks (task_namespace_uuid, name, version, description, configuration)
            VALUES (${ns!.task_namespace_uuid}, ${definition.name}, ${definition.version},
                    ${definition.description ?? null}::varchar, ${configuration}::jsonb)
            ON CONFLICT (task_namespace_uuid, name, version) DO UPDATE
              SET configuration = EXCLUDED.configuration, description = EXCLUDED.description, updated_at = now()
            RETURNING named_task_uuid`
          const namedSteps = yield* upsertNamedSteps(definition)
          yield* sql`SELECT tasker_create_queue(${workerQueueName(definition.namespace)})`
          return {
            key: templateKey(definition),
            definition,
            namedTaskUuid: nt!.named_task_uuid,
            stepSpecs: stepSpecs(definition, namedSteps)
          } satisfies RegisteredTemplate
        }))
        cache.set(registered.key, registered)
        yield* createTemplateSeries(templateSeries(definition))
        return registered
      })

      const decodeConfiguration = Schema.decodeUnknownEffect(TemplateConfiguration)

      const resolve = Effect.fn("TemplateRegistry.resolve")(function*(namespace: string, name: string, version: string) {
        const key = templateKey({ namespace, name, version })
        const cached = cache.get(key)
        if (cached !== undefined) return cached
        const [row] = yield* sql<{ named_task_uuid: NamedTaskUuid; configuration: unknown }>`
          SELECT nt.named_task_uuid, nt.configuration FROM tasker_named_tasks nt
          JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
          WHERE ns.name = ${namespace} AND nt.name = ${name} AND nt.version = ${version}`
        if (row === undefined) return yield* new TemplateNotFound({ namespace, name, version })
        // A stored template is checked like one being registered: a configuration written by something else (an
        // older version, a hand-made row) with a cycle, an unknown dependency or a duplicate step would otherwise
        // give tasks whose steps never run (or run too early). Such a template is the server's problem, not the
        // request's: `InvalidStoredTemplate` (naming the steps), raised before anything is written.
        const configuration = yield* decodeConfiguration(row.configuration).pipe(
          Effect.mapError((e) => new InvalidStoredTemplate({ template: key, problems: [`stored configuration: ${e.message}`] }))
        )
        const definition = yield* Effect.try({
          try: () => fromConfiguration(configuration) as WorkflowDefinition<unknown>,
          catch: (cause) =>
            new InvalidStoredTemplate({
              template: key,
              problems: [`stored input_schema: ${cause instanceof Error ? cause.message : String(cause)}`]
            })
        })
        // Every check of registration except handlers (this process may not host them): besides the graph, a
        // namespace that cannot name a queue or an out-of-range name or policy is caught here, not by the database.
        // A row whose configuration names another template would give tasks of one template the steps and the
        // queue of another.
        const problems = [
          ...(templateKey(definition) === key ? [] : [`its stored configuration is for ${templateKey(definition)}`]),
          ...templateProblems(definition)
        ]
        if (problems.length > 0) return yield* new InvalidStoredTemplate({ template: key, problems })
        const namedSteps = yield* upsertNamedSteps(definition)
        // A row that `register` did not write may have no queue for its namespace: without one the task's first
        // steps could not be enqueued (a 500 from the database). Idempotent; the task then waits for a worker.
        yield* sql`SELECT tasker_create_queue(${workerQueueName(definition.namespace)})`
        const registered: RegisteredTemplate = {
          key,
          definition,
          namedTaskUuid: row.named_task_uuid,
          stepSpecs: stepSpecs(definition, namedSteps)
        }
        cache.set(key, registered)
        yield* createTemplateSeries(templateSeries(definition))
        return registered
      })

      const listStored = sql<StoredTemplate>`
        SELECT ns.name AS namespace, nt.name, nt.version, nt.description, nt.configuration, nt.created_at, nt.updated_at
        FROM tasker_named_tasks nt
        JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
        ORDER BY ns.name, nt.name, nt.created_at`.pipe(Effect.withSpan("TemplateRegistry.listStored"))

      return TemplateRegistry.of({ register, resolve, listStored })
    })
  )
}

/**
 * The metric labels of a template (`InitialSeries.ts`): its counters are created at 0 when it is registered or
 * resolved, so that Prometheus sees their first increment.
 */
export const templateSeries = (definition: WorkflowDefinition<unknown>): TemplateSeries => ({
  namespace: definition.namespace,
  taskType: definition.name,
  queue: workerQueueName(definition.namespace),
  steps: definition.steps.map((step) => ({ name: step.name, handlerType: step.handler?.kind }))
})

/**
 * Creates the counter series of every template stored in the database at 0 (`InitialSeries.ts`), for the processes
 * that record a template's counters without registering or resolving it (an orchestrator applying results).
 * A stored configuration that does not decode is skipped; a database error is logged and ignored.
 */
export const createStoredTemplateSeries: Effect.Effect<void, never, TemplateRegistry> = Effect.gen(function*() {
  const registry = yield* TemplateRegistry
  const stored = yield* registry.listStored
  const decode = Schema.decodeUnknownOption(TemplateConfiguration)
  for (const row of stored) {
    const configuration = decode(row.configuration)
    if (configuration._tag === "None") continue
    yield* createTemplateSeries({
      namespace: row.namespace,
      taskType: row.name,
      queue: workerQueueName(row.namespace),
      steps: configuration.value.steps.map((step) => ({ name: step.name }))
    })
  }
}).pipe(
  Effect.catch((error) => Effect.logWarning("could not create the stored templates' metric series", { error: String(error) }))
)

export interface StoredTemplate {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly description: string | null
  readonly configuration: unknown
  readonly created_at: Date
  readonly updated_at: Date
}
