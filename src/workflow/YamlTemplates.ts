/**
 * Templates written in tasker-core's YAML format (one template per file), turned into `WorkflowDefinition`s via
 * `TemplateConfiguration` / `fromConfiguration`. Handlers are attached afterwards by callable name with
 * `bindHandlers`, which also validates the template (unknown dependency, cycle, missing handler, …).
 *
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { engineLayer } from "./layers/engine.ts"
 * import { postgresLayer } from "./layers/postgres.ts"
 * import { TaskInitializer } from "./src/tasks/TaskInitializer.ts"
 * import { TaskQueries } from "./src/tasks/TaskQueries.ts"
 * import type { StepHandler } from "./src/workflow/Workflow.ts"
 * import { bindHandlers, parseTemplateYaml } from "./src/workflow/YamlTemplates.ts"
 *
 * const yaml = `
 * name: squares
 * namespace_name: demo
 * version: 1.0.0
 * input_schema: { type: object, required: [n], properties: { n: { type: integer } } }
 * steps:
 *   - name: square
 *     handler: { callable: SquareHandler }
 *     timeout_seconds: 30
 *   - name: double
 *     handler: { callable: DoubleHandler, initialization: { factor: 2 } }
 *     dependencies: [square]
 *     retry: { max_attempts: 5, backoff: linear, backoff_base_ms: 500 }
 * environments:
 *   test:
 *     steps: [{ name: ALL, timeout_seconds: 5 }]
 * `
 * const handlers: Record<string, StepHandler<never>> = {
 *   SquareHandler: { kind: "effect", run: (ctx) => Effect.succeed((ctx.context as { n: number }).n ** 2) },
 *   DoubleHandler: {
 *     kind: "effect",
 *     run: (ctx) => ctx.dependency("square", Schema.Number).pipe(Effect.map((x) => x * (ctx.inputs as { factor: number }).factor))
 *   }
 * }
 *
 * const Engine = Layer.unwrap(
 *   parseTemplateYaml(yaml, { environment: process.env.APP_ENV }).pipe( // or loadTemplateFile / loadTemplateDirectory
 *     Effect.flatMap((template) => bindHandlers(template, handlers)), // InvalidTemplate names a missing handler, cycle, …
 *     Effect.map((bound) => engineLayer({ templates: [bound] }))
 *   )
 * ).pipe(Layer.provideMerge(postgresLayer({ url: process.env.DATABASE_URL! })))
 *
 * const program = Effect.gen(function*() {
 *   const queries = yield* TaskQueries
 *   const { task_uuid } = yield* (yield* TaskInitializer).createTask({
 *     namespace: "demo", name: "squares", version: "1.0.0", context: { n: 7 } // { n: "7" } → InvalidTaskRequest
 *   })
 *   yield* queries.waitForCompletion(task_uuid)
 *   const steps = yield* queries.listSteps(task_uuid)
 *   yield* Effect.log(steps.map((s) => `${s.name}=${JSON.stringify(s.results)}`)) // square → 49, double → 98
 * })
 * Effect.runPromise(program.pipe(Effect.provide(Engine)))
 * ```
 *
 * The format (tasker-core §8.1): top level `name`, `namespace_name`, `version`, `description?`, `metadata?`,
 * `task_handler?`, `system_dependencies{primary, secondary[]}`, `domain_events[]`, `input_schema` (JSON Schema),
 * `steps[]`, `environments{<env>: {task_handler?, steps[]}}`; a step has `name`, `description?`,
 * `handler{callable, initialization{}}`, `system_dependency?`, `dependencies[]`,
 * `retry{retryable, max_attempts, backoff, backoff_base_ms, max_backoff_ms}`, `timeout_seconds?`,
 * `publishes_events[]`. This project's `identity_strategy` (strict, caller_provided, always_unique) is accepted at
 * the top level too.
 *
 * What differs from tasker-core, which stored these fields but ignored them:
 * - `input_schema` is enforced: it becomes the template's input schema, so a task whose context does not match it
 *   is rejected at creation (`InvalidTaskRequest`).
 * - `timeout_seconds` and the backoff fields (`backoff`, `backoff_base_ms`, `max_backoff_ms`) reach the steps and
 *   are used by the worker and the retry timing.
 * - `environments.<env>` is applied when `options.environment` is given. Override entries apply in the order listed
 *   (a later entry wins); `name: ALL` applies to every step. `handler.initialization` is merged key by key over the
 *   step's initialization (top-level keys replaced, like tasker-core's `extend`); `timeout_seconds` replaces the
 *   step's; `retry` is merged field by field over the step's retry block (tasker-core replaced the whole block, so
 *   an override of only `max_attempts` silently reset the backoff to the defaults). An override naming a step the
 *   template does not have is an error, whatever the environment. Without `options.environment` nothing is applied.
 *   `environments.<env>.task_handler` is accepted and not used (there are no task handlers here).
 * - Unknown keys are errors, not silently dropped, in every block whose keys have a meaning: the top level, steps,
 *   `handler`, `retry`, `system_dependencies`, `task_handler` and the environment overrides (an override's `handler`
 *   takes only `initialization`). Free-form blocks (`metadata`,
 *   `initialization`, `input_schema`, `domain_events`, `publishes_events`) are not checked.
 * - **`retry.limit` is accepted as an alias of `retry.max_attempts`** (total attempts including the first, the
 *   meaning `limit` had in tasker-core's TAS-36 design and in its `workers/rust/config/tasks` copies, where
 *   tasker-core dropped it and used 3). Giving both is an error.
 *
 * Defaults: `retry` → retryable, 3 attempts, exponential backoff from 1000 ms capped at 30 000 ms (tasker-core's);
 * a step's `system_dependency` → `system_dependencies.primary` → `"default"`; `dependencies` → none;
 * `handler.initialization` → `{}`. An unquoted version such as `version: 1.0` (a YAML number) is read as written.
 *
 * `metadata`, `task_handler`, `system_dependencies.secondary`, `domain_events` and `publishes_events` are checked for
 * shape and then dropped: `TemplateConfiguration` has no place for them.
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises"
import { join, relative } from "node:path"
import { Effect, Predicate, Result, Schema, SchemaIssue } from "effect"
import { isScalar, parseDocument } from "yaml"
import {
  BackoffKind,
  fromConfiguration,
  IdentityStrategy,
  type InvalidTemplate,
  type StepHandler,
  type TemplateConfiguration,
  templateKey,
  validateWorkflow,
  withHandlers,
  type WorkflowDefinition
} from "./Workflow.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** A template file (or string) that cannot be read, is not YAML, or does not follow the template format. */
export class InvalidTemplateFile extends Schema.TaggedError<InvalidTemplateFile>()("InvalidTemplateFile", {
  /** the file path, or `<string>` for `parseTemplateYaml` without a source */
  source: Schema.String,
  /** `namespace/name@version` (or as much of it as the file gives), when known */
  template: Schema.optionalKey(Schema.String),
  /** each problem names the field, e.g. `step "linear_step_1": retry: unknown key "limits"` */
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const template = this.template === undefined ? "" : ` (template ${this.template})`
    return `invalid template file ${this.source}${template}: ${this.problems.join("; ")}`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The YAML format
// ---------------------------------------------------------------------------------------------------------------

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeMs = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

const RETRY_KEYS = ["retryable", "max_attempts", "limit", "backoff", "backoff_base_ms", "max_backoff_ms"] as const

const RetryYaml = Schema.Struct({
  retryable: optionalNullable(Schema.Boolean),
  max_attempts: optionalNullable(NonNegativeInt),
  /** alias of max_attempts */
  limit: optionalNullable(NonNegativeInt),
  backoff: optionalNullable(BackoffKind),
  backoff_base_ms: optionalNullable(NonNegativeMs),
  max_backoff_ms: optionalNullable(NonNegativeMs)
})
type RetryYaml = typeof RetryYaml.Type

const Initialization = Schema.Record(Schema.String, Schema.Json)
type Initialization = typeof Initialization.Type

const StepYaml = Schema.Struct({
  name: Schema.NonEmptyString,
  description: optionalNullable(Schema.String),
  handler: Schema.Struct({
    callable: Schema.NonEmptyString,
    initialization: optionalNullable(Initialization)
  }),
  system_dependency: optionalNullable(Schema.NonEmptyString),
  dependencies: optionalNullable(Schema.Array(Schema.String)),
  retry: optionalNullable(RetryYaml),
  timeout_seconds: optionalNullable(PositiveInt),
  publishes_events: optionalNullable(Schema.Array(Schema.Json))
})
type StepYaml = typeof StepYaml.Type

const HandlerOverride = Schema.Struct({ initialization: optionalNullable(Initialization) })

const StepOverrideYaml = Schema.Struct({
  /** a step name, or `ALL` for every step */
  name: Schema.NonEmptyString,
  handler: optionalNullable(HandlerOverride),
  timeout_seconds: optionalNullable(PositiveInt),
  retry: optionalNullable(RetryYaml)
})
type StepOverrideYaml = typeof StepOverrideYaml.Type

const EnvironmentYaml = Schema.Struct({
  task_handler: optionalNullable(HandlerOverride),
  steps: optionalNullable(Schema.Array(StepOverrideYaml))
})

const TemplateYaml = Schema.Struct({
  name: Schema.NonEmptyString,
  namespace_name: Schema.NonEmptyString,
  version: Schema.NonEmptyString,
  description: optionalNullable(Schema.String),
  identity_strategy: optionalNullable(IdentityStrategy),
  metadata: optionalNullable(Schema.Record(Schema.String, Schema.Json)),
  task_handler: optionalNullable(Schema.Struct({
    callable: optionalNullable(Schema.String),
    initialization: optionalNullable(Initialization)
  })),
  system_dependencies: optionalNullable(Schema.Struct({
    primary: optionalNullable(Schema.NonEmptyString),
    secondary: optionalNullable(Schema.Array(Schema.String))
  })),
  domain_events: optionalNullable(Schema.Array(Schema.Json)),
  input_schema: optionalNullable(Schema.Record(Schema.String, Schema.Json)),
  steps: Schema.Array(StepYaml),
  environments: optionalNullable(Schema.Record(Schema.String, Schema.NullOr(EnvironmentYaml)))
})
type TemplateYaml = typeof TemplateYaml.Type

const decodeTemplateYaml = Schema.decodeUnknownResult(TemplateYaml)

// ---------------------------------------------------------------------------------------------------------------
// Error messages that name the field
// ---------------------------------------------------------------------------------------------------------------

const UNKNOWN_KEY = "\u0000unknown-key"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => {
    switch (issue._tag) {
      case "UnexpectedKey":
        return UNKNOWN_KEY
      case "MissingKey":
        return "is required"
      default:
        return SchemaIssue.defaultLeafHook(issue)
    }
  }
})

const child = (node: unknown, key: PropertyKey): unknown =>
  Predicate.isObjectOrArray(node) ? (node as Record<PropertyKey, unknown>)[key] : undefined

/**
 * A path in the raw document as text, with steps named: `["steps", 0, "retry"]` → `step "linear_step_1": retry`,
 * `["environments", "test", "steps", 1]` → `environments.test: step override "linear_step_2"`.
 */
const describePath = (raw: unknown, path: ReadonlyArray<PropertyKey>): string => {
  const groups: Array<string> = []
  let fields: Array<string> = []
  let node = raw
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!
    node = child(node, segment)
    if (typeof segment === "number") {
      const parent = fields.pop()
      const name = child(node, "name")
      if (parent === "steps" && typeof name === "string") {
        if (fields.length > 0) groups.push(fields.join("."))
        fields = []
        groups.push(`${i === 1 ? "step" : "step override"} "${name}"`)
      } else {
        fields.push(`${parent ?? ""}[${segment}]`)
      }
    } else {
      fields.push(String(segment))
    }
  }
  if (fields.length > 0) groups.push(fields.join("."))
  return groups.join(": ")
}

const describeIssue = (raw: unknown, path: ReadonlyArray<PropertyKey>, message: string): string => {
  if (message === UNKNOWN_KEY) {
    const key = String(path[path.length - 1])
    const where = describePath(raw, path.slice(0, -1))
    const known = path[path.length - 2] === "retry" ? ` (known: ${RETRY_KEYS.join(", ")})` : ""
    return where === "" ? `unknown top-level key "${key}"` : `${where}: unknown key "${key}"${known}`
  }
  const where = describePath(raw, path)
  return where === "" ? message : `${where}: ${message}`
}

/** `namespace/name@version`, or as much of it as the raw document gives. */
const templateLabel = (raw: unknown): string | undefined => {
  const text = (key: string) => {
    const value = child(raw, key)
    return typeof value === "string" && value.length > 0 ? value : undefined
  }
  const namespace = text("namespace_name")
  const name = text("name")
  const version = text("version")
  if (name === undefined) return undefined
  return `${namespace ?? "?"}/${name}${version === undefined ? "" : `@${version}`}`
}

// ---------------------------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------------------------

/** A retry block with `limit` folded into `max_attempts` and nulls dropped; a problem when both are given. */
const normalizeRetry = (retry: RetryYaml, where: string, problems: Array<string>) => {
  if (retry.limit != null && retry.max_attempts != null) {
    problems.push(`${where}: retry: give max_attempts or its alias limit, not both`)
  }
  const maxAttempts = retry.max_attempts ?? retry.limit
  return {
    ...(retry.retryable != null ? { retryable: retry.retryable } : {}),
    ...(maxAttempts != null ? { max_attempts: maxAttempts } : {}),
    ...(retry.backoff != null ? { backoff: retry.backoff } : {}),
    ...(retry.backoff_base_ms != null ? { backoff_base_ms: retry.backoff_base_ms } : {}),
    ...(retry.max_backoff_ms != null ? { max_backoff_ms: retry.max_backoff_ms } : {})
  }
}
type NormalizedRetry = ReturnType<typeof normalizeRetry>

interface ResolvedStep {
  readonly yaml: StepYaml
  initialization: Initialization
  timeoutSeconds: number | undefined
  retry: NormalizedRetry
}

const applyOverride = (step: ResolvedStep, override: StepOverrideYaml, retry: NormalizedRetry | undefined) => {
  const initialization = override.handler?.initialization
  if (initialization != null) step.initialization = { ...step.initialization, ...initialization }
  if (override.timeout_seconds != null) step.timeoutSeconds = override.timeout_seconds
  if (retry !== undefined) step.retry = { ...step.retry, ...retry }
}

const toTemplateConfiguration = (
  template: TemplateYaml,
  environment: string | undefined
): Result.Result<TemplateConfiguration, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  const steps: Array<ResolvedStep> = template.steps.map((yaml) => ({
    yaml,
    initialization: yaml.handler.initialization ?? {},
    timeoutSeconds: yaml.timeout_seconds ?? undefined,
    retry: yaml.retry == null ? {} : normalizeRetry(yaml.retry, `step "${yaml.name}"`, problems)
  }))
  const byName = new Map(steps.map((s) => [s.yaml.name, s]))

  // every environment is checked (a typo in a step name should not wait for the day that environment is used)
  for (const [env, overrides] of Object.entries(template.environments ?? {})) {
    for (const override of overrides?.steps ?? []) {
      const where = `environments.${env}: step override "${override.name}"`
      const retry = override.retry == null ? undefined : normalizeRetry(override.retry, where, problems)
      const targets = override.name === "ALL" ? steps : byName.has(override.name) ? [byName.get(override.name)!] : []
      if (targets.length === 0 && override.name !== "ALL") {
        problems.push(`${where}: the template has no step "${override.name}"`)
      }
      if (env !== environment) continue
      for (const step of targets) applyOverride(step, override, retry)
    }
  }
  if (problems.length > 0) return Result.fail(problems)

  const primary = template.system_dependencies?.primary ?? "default"
  return Result.succeed({
    name: template.name,
    namespace_name: template.namespace_name,
    version: template.version,
    description: template.description ?? null,
    ...(template.identity_strategy != null ? { identity_strategy: template.identity_strategy } : {}),
    input_schema: template.input_schema ?? null,
    steps: steps.map(({ initialization, retry, timeoutSeconds, yaml }) => ({
      name: yaml.name,
      description: yaml.description ?? null,
      handler: { callable: yaml.handler.callable, initialization },
      system_dependency: yaml.system_dependency ?? primary,
      dependencies: yaml.dependencies ?? [],
      retry,
      timeout_seconds: timeoutSeconds ?? null
    }))
  })
}

/** The document as plain data; an unquoted numeric `version` (`1.0`) is kept as written. */
const readYaml = (text: string): Result.Result<unknown, ReadonlyArray<string>> => {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (document.errors.length > 0) {
    // the first line holds the message and position; the rest is a source excerpt
    return Result.fail(document.errors.map((e) => `YAML: ${e.message.split("\n")[0]!.replace(/:$/, "")}`))
  }
  let raw: unknown
  try {
    raw = document.toJS({ maxAliasCount: 100 })
  } catch (error) {
    // an alias bomb (aliases that expand beyond maxAliasCount) throws a ReferenceError
    return Result.fail([`YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`])
  }
  if (!Predicate.isObject(raw)) {
    const got = raw === null ? "an empty document" : Array.isArray(raw) ? "a sequence" : `a ${typeof raw}`
    return Result.fail([`the document must be a YAML mapping of the template's fields (got ${got})`])
  }
  const version = document.get("version", true)
  if (isScalar(version) && typeof version.value === "number" && version.source !== undefined) {
    return Result.succeed({ ...raw, version: version.source })
  }
  return Result.succeed(raw)
}

const parse = (
  text: string,
  source: string,
  environment: string | undefined
): Result.Result<WorkflowDefinition<never>, InvalidTemplateFile> => {
  const fail = (problems: ReadonlyArray<string>, raw?: unknown) => {
    const template = templateLabel(raw)
    return Result.fail(new InvalidTemplateFile({ source, problems, ...(template !== undefined ? { template } : {}) }))
  }
  const raw = readYaml(text)
  if (Result.isFailure(raw)) return fail(raw.failure)
  const decoded = decodeTemplateYaml(raw.success, { onExcessProperty: "error", errors: "all" })
  if (Result.isFailure(decoded)) {
    const issues = formatIssues(decoded.failure.issue).issues
    return fail(
      issues.map((issue) =>
        describeIssue(raw.success, (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p)), issue.message)
      ),
      raw.success
    )
  }
  const configuration = toTemplateConfiguration(decoded.success, environment)
  if (Result.isFailure(configuration)) return fail(configuration.failure, raw.success)
  try {
    return Result.succeed(fromConfiguration(configuration.success))
  } catch (cause) {
    // the input schema is converted eagerly; an unsupported JSON Schema throws
    return fail([`input_schema: not a usable JSON Schema: ${cause instanceof Error ? cause.message : String(cause)}`], raw.success)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------------------------

export interface ParseOptions {
  /** apply `environments.<environment>` (none when absent) */
  readonly environment?: string | undefined
}

/**
 * One template from YAML text in tasker-core's format, without handlers. Structural problems (unknown keys, wrong
 * types, an override for an unknown step, `limit` together with `max_attempts`) fail with `InvalidTemplateFile`;
 * graph problems (unknown dependency, cycle) are found by `validateWorkflow` / `bindHandlers`.
 */
export const parseTemplateYaml = (
  text: string,
  options: ParseOptions & {
    /** names the text in errors (default `<string>`) */
    readonly source?: string
  } = {}
): Effect.Effect<WorkflowDefinition<never>, InvalidTemplateFile> =>
  Effect.suspend(() => Effect.fromResult(parse(text, options.source ?? "<string>", options.environment)))

/** One template from a YAML file; a file that cannot be read is an `InvalidTemplateFile` too. */
export const loadTemplateFile = Effect.fn("YamlTemplates.loadTemplateFile")(function*(
  path: string,
  options: ParseOptions = {}
) {
  const text = yield* Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) => new InvalidTemplateFile({ source: path, problems: [`cannot read the file: ${errorText(cause)}`] })
  })
  return yield* parseTemplateYaml(text, { ...options, source: path })
})

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Whether a file name is a template file's: `*.yaml` or `*.yml` (any case). */
export const isTemplateFile = (name: string): boolean => /\.ya?ml$/i.test(name)

/** Every `*.yml` / `*.yaml` file under `dir` (recursively, following links once), sorted by path. */
const templateFiles = async (dir: string): Promise<ReadonlyArray<string>> => {
  const files: Array<string> = []
  const seen = new Set<string>()
  const walk = async (current: string): Promise<void> => {
    const real = await realpath(current)
    if (seen.has(real)) return
    seen.add(real)
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name)
      const kind = entry.isSymbolicLink() ? await stat(path) : entry
      if (kind.isDirectory()) await walk(path)
      else if (kind.isFile() && isTemplateFile(entry.name)) files.push(path)
    }
  }
  await walk(dir)
  return files.sort((a, b) => {
    const x = relative(dir, a)
    const y = relative(dir, b)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/** A template and the file it was read from. */
export interface TemplateFile {
  readonly file: string
  readonly template: WorkflowDefinition<never>
}

/**
 * Every template under `dir` (`*.yml` and `*.yaml`, recursively) with its file, in path order: what
 * `loadTemplateDirectory` loads, for callers that name the file in their own messages (the `tasker` CLI). Fails on
 * the first file that does not load, and when two files define the same namespace/name/version.
 */
export const loadTemplateFiles = Effect.fn("YamlTemplates.loadTemplateFiles")(function*(
  dir: string,
  options: ParseOptions = {}
) {
  const files = yield* Effect.tryPromise({
    try: () => templateFiles(dir),
    catch: (cause) => new InvalidTemplateFile({ source: dir, problems: [`cannot read the directory: ${errorText(cause)}`] })
  })
  const loaded: Array<TemplateFile> = []
  const defined = new Map<string, string>()
  for (const file of files) {
    const template = yield* loadTemplateFile(file, options)
    const key = templateKey(template)
    const first = defined.get(key)
    if (first !== undefined) {
      return yield* new InvalidTemplateFile({ source: file, template: key, problems: [`${key} is already defined in ${first}`] })
    }
    defined.set(key, file)
    loaded.push({ file, template })
  }
  return loaded as ReadonlyArray<TemplateFile>
})

/**
 * Every template under `dir` (`*.yml` and `*.yaml`, recursively), in path order. Fails on the first file that does
 * not load, and when two files define the same namespace/name/version.
 */
export const loadTemplateDirectory = Effect.fn("YamlTemplates.loadTemplateDirectory")(function*(
  dir: string,
  options: ParseOptions = {}
) {
  const loaded = yield* loadTemplateFiles(dir, options)
  return loaded.map((f) => f.template) as ReadonlyArray<WorkflowDefinition<never>>
})

/**
 * Attaches handlers by each step's `handler.callable` (or, failing that, its name) and validates the result with
 * `requireHandlers`: a step without a handler, an unknown dependency or a cycle fails with `InvalidTemplate`
 * naming them all.
 */
export const bindHandlers = <R>(
  template: WorkflowDefinition<never>,
  handlers: Readonly<Record<string, StepHandler<R>>>
): Effect.Effect<WorkflowDefinition<R>, InvalidTemplate> =>
  Effect.suspend(() => Effect.fromResult(validateWorkflow(withHandlers(template, handlers), { requireHandlers: true })))
