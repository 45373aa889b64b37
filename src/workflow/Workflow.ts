/**
 * Workflow templates: a namespace, a name, a version, an input schema for the task context, and a DAG of steps,
 * each with a handler (an Effect), dependencies, a retry policy and a timeout.
 *
 * ```ts
 * const Greeting = Workflow.make({
 *   namespace: "demo",
 *   name: "greeting",
 *   version: "1.0.0",
 *   input: Schema.Struct({ name: Schema.String })
 * })
 *   .step("compose", { run: (ctx) => Effect.succeed(`Hello, ${ctx.context.name}`) })
 *   .step("shout", {
 *     dependsOn: ["compose"],
 *     run: (ctx) => ctx.dependency("compose", Schema.String).pipe(Effect.map((s) => s.toUpperCase()))
 *   })
 * ```
 *
 * `validateWorkflow` checks a template before registration (unknown dependency, duplicate step, cycle — named —,
 * missing handler, bad names and policies). `toConfiguration` / `fromConfiguration` convert to and from the JSON
 * stored in `tasker_named_tasks.configuration`, which follows tasker-core's YAML template format.
 */
import { type Context, Effect, JsonSchema, Predicate, Result, Schema, SchemaRepresentation } from "effect"
import { makeStepLogger, type PromiseStepContext, type StepContext } from "./StepContext.ts"
import { StepError } from "./StepError.ts"

export const BackoffKind = Schema.Literals(["none", "linear", "exponential", "fibonacci"])
export type BackoffKind = typeof BackoffKind.Type

export interface RetryPolicy {
  /** false: a failure fails the step at once (the first attempt always runs) */
  readonly retryable: boolean
  /** total attempts including the first (0 behaves like 1) */
  readonly maxAttempts: number
  readonly backoff: BackoffKind
  /** the first retry's delay (linear and exponential grow from it) */
  readonly backoffBaseMs: number
  /** cap on the delay */
  readonly maxBackoffMs: number
}

export const defaultRetryPolicy: RetryPolicy = {
  retryable: true,
  maxAttempts: 3,
  backoff: "exponential",
  backoffBaseMs: 1000,
  maxBackoffMs: 30_000
}

/**
 * How a task request's identity is derived; identities are unique, so a second request with the same identity
 * returns the existing task instead of creating another:
 * - `strict`: the template (namespace, name, version) and the task context;
 * - `caller_provided`: the request's `idempotency_key` (required);
 * - `always_unique`: every request is a new task.
 */
export const IdentityStrategy = Schema.Literals(["strict", "caller_provided", "always_unique"])
export type IdentityStrategy = typeof IdentityStrategy.Type

/** A handler as the engine runs it: context in, a JSON result out. */
export interface StepHandler<R> {
  /** `effect` for native Effect handlers, `promise` for plain async functions (the adapter path) */
  readonly kind: "effect" | "promise"
  readonly run: (ctx: StepContext<unknown>) => Effect.Effect<Schema.Json, StepError, R>
}

export interface StepDefinition<R = never> {
  readonly name: string
  readonly description: string | undefined
  readonly dependsOn: ReadonlyArray<string>
  /** absent for templates read back from the database or YAML without a handler */
  readonly handler: StepHandler<R> | undefined
  /** the handler's name (tasker-core's `handler.callable`) */
  readonly callable: string | undefined
  readonly retry: RetryPolicy
  readonly timeoutSeconds: number | undefined
  /** the step's `inputs` (tasker-core's `handler.initialization`) */
  readonly inputs: Schema.Json
  /** the dependent system the step talks to */
  readonly system: string
}

export interface WorkflowDefinition<R = never> {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly description: string | undefined
  readonly identityStrategy: IdentityStrategy
  /** decodes the task context (JSON) for handlers and validates it at task creation */
  readonly input: Schema.Codec<unknown, unknown> | undefined
  /** the input schema as JSON Schema (stored with the template, shown by the API) */
  readonly inputJsonSchema: Schema.Json
  readonly steps: ReadonlyArray<StepDefinition<R>>
}

/**
 * A step's options. `Steps` is the names of the steps added before it: `dependsOn` may name only those, so a
 * misspelt or later step is a compile-time error (with step names only known at run time, `Steps` is `string`
 * and `validateWorkflow` reports an unknown name when the template is registered).
 */
export interface StepOptions<Input, A, R, Steps extends string = string> {
  readonly dependsOn?: ReadonlyArray<Steps>
  readonly run: (ctx: StepContext<Input>) => Effect.Effect<A, StepError, R>
  /** encodes the result to JSON (e.g. `Schema.BigInt` stores a decimal string); without it the result must be JSON */
  readonly output?: Schema.Codec<A, unknown>
  readonly retry?: Partial<RetryPolicy>
  readonly timeoutSeconds?: number
  readonly description?: string
  readonly inputs?: Schema.Json
  readonly callable?: string
  readonly system?: string
}

export interface StepHandlerOptions<R, Steps extends string = string>
  extends Omit<StepOptions<unknown, Schema.Json, R, Steps>, "run" | "output">
{
  readonly handler: StepHandler<R>
}

/**
 * A template under construction; every `step` returns a new one. `R` collects what the handlers need, `Steps`
 * the names of the steps so far (what a later step's `dependsOn` may name; `string` when they are not literals).
 */
export class Workflow<Input, R, Steps extends string = string> implements WorkflowDefinition<R> {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly description: string | undefined
  readonly identityStrategy: IdentityStrategy
  readonly input: Schema.Codec<unknown, unknown> | undefined
  readonly inputJsonSchema: Schema.Json
  readonly steps: ReadonlyArray<StepDefinition<R>>
  /** phantom: the task context's type */
  declare readonly "~input": Input

  private constructor(
    namespace: string,
    name: string,
    version: string,
    description: string | undefined,
    identityStrategy: IdentityStrategy,
    input: Schema.Codec<unknown, unknown> | undefined,
    inputJsonSchema: Schema.Json,
    steps: ReadonlyArray<StepDefinition<R>>
  ) {
    this.namespace = namespace
    this.name = name
    this.version = version
    this.description = description
    this.identityStrategy = identityStrategy
    this.input = input
    this.inputJsonSchema = inputJsonSchema
    this.steps = steps
  }

  static make<I = unknown>(options: {
    readonly namespace: string
    readonly name: string
    readonly version: string
    readonly description?: string
    readonly identityStrategy?: IdentityStrategy
    /** the task context's schema; its JSON form is what requests send */
    readonly input?: Schema.Codec<I, unknown>
  }): Workflow<I, never, never> {
    const input = options.input === undefined ? undefined : Schema.toCodecJson(options.input)
    return new Workflow<I, never, never>(
      options.namespace,
      options.name,
      options.version,
      options.description,
      options.identityStrategy ?? "strict",
      input as Schema.Codec<unknown, unknown> | undefined,
      options.input === undefined ? null : (Schema.toJsonSchemaDocument(options.input).schema as Schema.Json),
      []
    )
  }

  /** Adds a step whose handler is an Effect. */
  step<Name extends string, A, R2 = never>(
    name: Name,
    options: StepOptions<Input, A, R2, Steps>
  ): Workflow<Input, R | R2, Steps | Name> {
    return this.addStep<R2, Name>(name, options, { kind: "effect", run: effectHandler(options.run, options.output) })
  }

  /** Adds a step with a prepared handler (`fromPromise`, or one looked up by name). */
  stepWith<Name extends string, R2 = never>(
    name: Name,
    options: StepHandlerOptions<R2, Steps>
  ): Workflow<Input, R | R2, Steps | Name> {
    return this.addStep<R2, Name>(name, options, options.handler)
  }

  private addStep<R2, Name extends string>(
    name: Name,
    options: Omit<StepOptions<unknown, unknown, R2, string>, "run" | "output">,
    handler: StepHandler<R2>
  ): Workflow<Input, R | R2, Steps | Name> {
    const step: StepDefinition<R2> = {
      name,
      description: options.description,
      dependsOn: options.dependsOn ?? [],
      handler,
      callable: options.callable ?? `${this.namespace}.${this.name}.${name}`,
      retry: { ...defaultRetryPolicy, ...options.retry },
      timeoutSeconds: options.timeoutSeconds,
      inputs: options.inputs ?? null,
      system: options.system ?? "default"
    }
    return new Workflow<Input, R | R2, Steps | Name>(
      this.namespace,
      this.name,
      this.version,
      this.description,
      this.identityStrategy,
      this.input,
      this.inputJsonSchema,
      [...this.steps, step]
    )
  }
}

/** `namespace/name@version` */
export const templateKey = (t: { readonly namespace: string; readonly name: string; readonly version: string }): string =>
  `${t.namespace}/${t.name}@${t.version}`

const isJson = Schema.is(Schema.Json)

const effectHandler = <Input, A, R>(
  run: (ctx: StepContext<Input>) => Effect.Effect<A, StepError, R>,
  output: Schema.Codec<A, unknown> | undefined
): StepHandler<R>["run"] => {
  const encode = output === undefined ? undefined : Schema.encodeUnknownEffect(Schema.toCodecJson(output))
  return (ctx) =>
    Effect.flatMap(run(ctx as StepContext<Input>), (value) => {
      if (encode !== undefined) {
        return Effect.mapError(
          encode(value) as Effect.Effect<Schema.Json, Schema.SchemaError>,
          (error) => StepError.permanent(`step result does not match its output schema: ${error.message}`, { errorType: "OutputError" })
        )
      }
      return isJson(value)
        ? Effect.succeed(value)
        : Effect.fail(StepError.permanent("step result is not JSON; declare an output schema to encode it", { errorType: "OutputError" }))
    })
}

/**
 * A named, reusable Effect handler (for templates whose steps are bound by name, such as YAML templates):
 * `handler((ctx) => Effect.succeed(…), Schema.BigInt)`. `output` encodes the result to JSON.
 */
export const handler = <A, R = never>(
  run: (ctx: StepContext<unknown>) => Effect.Effect<A, StepError, R>,
  output?: Schema.Codec<A, unknown>
): StepHandler<R> => ({ kind: "effect", run: effectHandler(run, output) })

/**
 * Adapts a plain async function to a step handler (for code that is not written with Effect). A rejected
 * promise is a retryable failure unless it rejects with a `StepError`; the result must be JSON. The function's
 * context has a logger, `ctx.log.info(message, fields)` (and `debug`, `warn`, `error`), whose lines go through the
 * engine's logger with the step's correlation, trace and step annotations, like an Effect handler's.
 */
export const fromPromise = <Input = unknown>(
  fn: (ctx: PromiseStepContext<Input>, signal: AbortSignal) => Promise<unknown>
): StepHandler<never> => ({
  kind: "promise",
  run: (ctx) =>
    Effect.contextWith((context: Context.Context<never>) => Effect.tryPromise({
      try: (signal) => fn({ ...(ctx as StepContext<Input>), log: makeStepLogger(context) }, signal),
      catch: (cause) =>
        cause instanceof StepError
          ? cause
          : StepError.retryable(cause instanceof Error ? cause.message : String(cause), {
            errorType: cause instanceof Error ? cause.name : "Error"
          })
    })).pipe(
      Effect.flatMap((value) =>
        isJson(value)
          ? Effect.succeed(value)
          : Effect.fail(StepError.permanent("step result is not JSON", { errorType: "OutputError" }))
      )
    )
})

// ---------------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------------

export class InvalidTemplate extends Schema.TaggedError<InvalidTemplate>()("InvalidTemplate", {
  template: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid template ${this.template}: ${this.problems.join("; ")}`
  }
}

const NAMESPACE_PATTERN = /^[a-z0-9_]{1,40}$/

/**
 * Every problem of a template, or none. With `requireHandlers`, a step without a handler is a problem (a worker
 * cannot host it).
 */
export const templateProblems = (
  template: WorkflowDefinition<unknown>,
  options: { readonly requireHandlers?: boolean } = {}
): ReadonlyArray<string> => {
  const problems: Array<string> = []
  if (!NAMESPACE_PATTERN.test(template.namespace)) {
    problems.push(`namespace "${template.namespace}" must be 1-40 characters of a-z, 0-9 and _`)
  }
  if (template.name.length === 0 || template.name.length > 64) problems.push("name must be 1-64 characters")
  if (template.version.length === 0 || template.version.length > 16) problems.push("version must be 1-16 characters")

  for (const step of template.steps) {
    if (step.name.length === 0 || step.name.length > 128) problems.push(`step name "${step.name}" must be 1-128 characters`)
    const r = step.retry
    if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 0) {
      problems.push(`step "${step.name}": retry.maxAttempts must be an integer >= 0`)
    }
    if (!(r.backoffBaseMs >= 0) || !(r.maxBackoffMs >= 0)) {
      problems.push(`step "${step.name}": backoff times must be >= 0`)
    }
    if (!BackoffKind.literals.includes(r.backoff)) {
      problems.push(`step "${step.name}": unknown backoff "${r.backoff}" (none, linear, exponential, fibonacci)`)
    }
    if (step.timeoutSeconds !== undefined && !(Number.isInteger(step.timeoutSeconds) && step.timeoutSeconds > 0)) {
      problems.push(`step "${step.name}": timeoutSeconds must be a positive integer`)
    }
    if (options.requireHandlers === true && step.handler === undefined) {
      problems.push(`step "${step.name}": no handler${step.callable === undefined ? "" : ` for "${step.callable}"`}`)
    }
  }
  problems.push(...graphProblems(template.steps))
  return problems
}

/**
 * The problems of a template's step graph alone: a duplicate step name, a dependency on an unknown step, a
 * dependency listed twice, a cycle (a step that depends on itself is a cycle of one). Each names the steps. These
 * are the problems that would make a task's steps run too early or never, whoever wrote the template.
 */
export const graphProblems = (
  steps: ReadonlyArray<{ readonly name: string; readonly dependsOn: ReadonlyArray<string> }>
): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const names = new Set<string>()
  for (const step of steps) {
    if (names.has(step.name)) problems.push(`duplicate step name "${step.name}"`)
    names.add(step.name)
  }
  for (const step of steps) {
    for (const dep of step.dependsOn) {
      if (!names.has(dep)) problems.push(`step "${step.name}" depends on unknown step "${dep}"`)
    }
    if (new Set(step.dependsOn).size !== step.dependsOn.length) {
      problems.push(`step "${step.name}" lists a dependency twice`)
    }
  }
  const cycle = findCycle(steps)
  if (cycle !== undefined) problems.push(`dependency cycle: ${cycle.join(" -> ")}`)
  return problems
}

/** The first dependency cycle found (as a path that ends where it starts), if any. */
export const findCycle = (steps: ReadonlyArray<{ readonly name: string; readonly dependsOn: ReadonlyArray<string> }>) => {
  const deps = new Map(steps.map((s) => [s.name, s.dependsOn]))
  const state = new Map<string, "visiting" | "done">()
  const path: Array<string> = []
  const visit = (name: string): ReadonlyArray<string> | undefined => {
    const seen = state.get(name)
    if (seen === "done") return undefined
    if (seen === "visiting") return [...path.slice(path.indexOf(name)), name]
    state.set(name, "visiting")
    path.push(name)
    for (const dep of deps.get(name) ?? []) {
      if (!deps.has(dep)) continue
      const found = visit(dep)
      if (found !== undefined) return found
    }
    path.pop()
    state.set(name, "done")
    return undefined
  }
  for (const step of steps) {
    const found = visit(step.name)
    if (found !== undefined) return found
  }
  return undefined
}

export const validateWorkflow = <R>(
  template: WorkflowDefinition<R>,
  options: { readonly requireHandlers?: boolean } = {}
): Result.Result<WorkflowDefinition<R>, InvalidTemplate> => {
  const problems = templateProblems(template as WorkflowDefinition<unknown>, options)
  return problems.length === 0
    ? Result.succeed(template)
    : Result.fail(new InvalidTemplate({ template: templateKey(template), problems }))
}

// ---------------------------------------------------------------------------------------------------------------
// Stored configuration (tasker-core's template format, as JSON)
// ---------------------------------------------------------------------------------------------------------------

const RetryConfiguration = Schema.Struct({
  retryable: Schema.optionalKey(Schema.Boolean),
  max_attempts: Schema.optionalKey(Schema.Int),
  backoff: Schema.optionalKey(BackoffKind),
  backoff_base_ms: Schema.optionalKey(Schema.Number),
  max_backoff_ms: Schema.optionalKey(Schema.Number)
})

const StepConfiguration = Schema.Struct({
  name: Schema.String,
  description: Schema.optionalKey(Schema.NullOr(Schema.String)),
  handler: Schema.optionalKey(Schema.Struct({
    callable: Schema.optionalKey(Schema.NullOr(Schema.String)),
    initialization: Schema.optionalKey(Schema.NullOr(Schema.Json))
  })),
  system_dependency: Schema.optionalKey(Schema.NullOr(Schema.String)),
  dependencies: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
  retry: Schema.optionalKey(Schema.NullOr(RetryConfiguration)),
  timeout_seconds: Schema.optionalKey(Schema.NullOr(Schema.Int))
})

/** The template as stored in `tasker_named_tasks.configuration` and read from YAML. */
export const TemplateConfiguration = Schema.Struct({
  name: Schema.String,
  namespace_name: Schema.String,
  version: Schema.String,
  description: Schema.optionalKey(Schema.NullOr(Schema.String)),
  identity_strategy: Schema.optionalKey(IdentityStrategy),
  input_schema: Schema.optionalKey(Schema.NullOr(Schema.Json)),
  steps: Schema.Array(StepConfiguration)
})
export type TemplateConfiguration = typeof TemplateConfiguration.Type

export const toConfiguration = (template: WorkflowDefinition<unknown>): TemplateConfiguration => ({
  name: template.name,
  namespace_name: template.namespace,
  version: template.version,
  description: template.description ?? null,
  identity_strategy: template.identityStrategy,
  input_schema: template.inputJsonSchema,
  steps: template.steps.map((step) => ({
    name: step.name,
    description: step.description ?? null,
    handler: { callable: step.callable ?? null, initialization: step.inputs },
    system_dependency: step.system,
    dependencies: [...step.dependsOn],
    retry: {
      retryable: step.retry.retryable,
      max_attempts: step.retry.maxAttempts,
      backoff: step.retry.backoff,
      backoff_base_ms: step.retry.backoffBaseMs,
      max_backoff_ms: step.retry.maxBackoffMs
    },
    timeout_seconds: step.timeoutSeconds ?? null
  }))
})

/**
 * A template (without handlers) from its stored configuration. The JSON Schema of `input_schema` becomes the
 * input schema that validates task contexts.
 */
export const fromConfiguration = (configuration: TemplateConfiguration): WorkflowDefinition<never> => ({
  namespace: configuration.namespace_name,
  name: configuration.name,
  version: configuration.version,
  description: configuration.description ?? undefined,
  identityStrategy: configuration.identity_strategy ?? "strict",
  input: inputSchemaFromJsonSchema(configuration.input_schema ?? null),
  inputJsonSchema: configuration.input_schema ?? null,
  steps: configuration.steps.map((step): StepDefinition<never> => ({
    name: step.name,
    description: step.description ?? undefined,
    dependsOn: step.dependencies ?? [],
    handler: undefined,
    callable: step.handler?.callable ?? undefined,
    retry: {
      retryable: step.retry?.retryable ?? defaultRetryPolicy.retryable,
      maxAttempts: step.retry?.max_attempts ?? defaultRetryPolicy.maxAttempts,
      backoff: step.retry?.backoff ?? defaultRetryPolicy.backoff,
      backoffBaseMs: step.retry?.backoff_base_ms ?? defaultRetryPolicy.backoffBaseMs,
      maxBackoffMs: step.retry?.max_backoff_ms ?? defaultRetryPolicy.maxBackoffMs
    },
    timeoutSeconds: step.timeout_seconds ?? undefined,
    inputs: step.handler?.initialization ?? null,
    system: step.system_dependency ?? "default"
  }))
})

/** A JSON Schema (draft-07 or 2020-12) as a Schema that validates JSON task contexts; undefined for none. */
export const inputSchemaFromJsonSchema = (jsonSchema: Schema.Json): Schema.Codec<unknown, unknown> | undefined => {
  if (!Predicate.isObject(jsonSchema) || Array.isArray(jsonSchema)) return undefined
  const document = JsonSchema.fromSchemaDraft07(jsonSchema as JsonSchema.JsonSchema)
  return SchemaRepresentation.fromJsonSchemaDocument(document, { patterns: "apply" }) as Schema.Codec<unknown, unknown>
}

/** Attaches handlers to a template read from configuration, by each step's `callable` (or name). */
export const withHandlers = <R>(
  template: WorkflowDefinition<never>,
  handlers: Readonly<Record<string, StepHandler<R>>>
): WorkflowDefinition<R> => {
  // own properties only: `toString`, `constructor` or `__proto__` must not find Object.prototype's members
  const lookup = (name: string | undefined) =>
    name !== undefined && Object.hasOwn(handlers, name) ? handlers[name] : undefined
  return {
    ...template,
    steps: template.steps.map((step) => ({ ...step, handler: lookup(step.callable) ?? lookup(step.name) }))
  }
}
