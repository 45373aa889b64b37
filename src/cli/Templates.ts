/**
 * Workflow templates from the user's files: `tasker serve|worker --templates <source>` (repeatable) or
 * `TASKER_TEMPLATES` (comma-separated), and the handlers of YAML templates from `--handlers <module>` (repeatable)
 * or `TASKER_HANDLERS` (comma-separated). Without templates, the example templates are hosted.
 *
 * A source is one of:
 *
 * - `examples`: the built-in example templates, so `--templates examples --templates ./app.ts` hosts both;
 * - a YAML template file (`*.yaml` or `*.yml`, tasker-core's format, read by `src/workflow/YamlTemplates.ts`), or a
 *   directory: every `*.yaml` / `*.yml` file under it, recursively. Their steps are bound to handlers by
 *   `handler.callable` (falling back to the step name), taken from the handlers modules;
 * - any other file: a templates module, an ES module (`.js`, `.mjs`, or `.ts` with only erasable TypeScript, which
 *   Node runs directly) that exports its templates (`WorkflowDefinition`s, e.g. built with `Workflow.make`) as
 *   named exports, as a default export (one template or an array of them), or as a named array. The same template
 *   object exported twice counts once; other named exports are ignored.
 *
 * A handlers module is an ES module that exports step handlers (`handler(...)`, `fromPromise(...)`) under their
 * callable names: as named exports (`export const SquareHandler = handler(...)`), or as a record in its `handlers`
 * or default export. Both kinds of module may export `layer`: a `Layer` that provides the services their handlers
 * need. It may use the engine's database (`SqlClient`); it is built once, when the process starts.
 *
 * Any problem (a missing file or directory, a module that fails to import or exports nothing usable, a YAML file
 * that does not parse or follow the format, a directory without YAML files, a callable no handlers module exports,
 * a template that does not validate, two different templates with the same namespace/name/version, two different
 * handlers for one callable) is a `UsageError` of one line that names the flag or variable and the file (exit
 * code 2), found before any database is opened.
 */
import { existsSync, statSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer, Predicate, Result } from "effect"
import { exampleTemplates } from "../examples/index.ts"
import {
  type StepHandler,
  templateKey,
  validateWorkflow,
  withHandlers,
  type WorkflowDefinition
} from "../workflow/Workflow.ts"
import { type InvalidTemplateFile, isTemplateFile, loadTemplateFile, loadTemplateFiles } from "../workflow/YamlTemplates.ts"
import { UsageError } from "./Failure.ts"

/** The value of `--templates` that stands for the built-in example templates. */
export const EXAMPLES = "examples"

export interface LoadedTemplates {
  readonly templates: ReadonlyArray<WorkflowDefinition<never>>
  /** the modules' `layer` exports merged (`Layer.empty` when none) */
  readonly layer: Layer.Layer<never, unknown, never>
}

export interface LoadOptions {
  /** the flag or variable the template sources came from (`--templates`, `TASKER_TEMPLATES`), for messages */
  readonly field: string
  /** every step must have a handler (the process runs a worker) */
  readonly requireHandlers: boolean
  /** the handlers modules for the YAML templates (paths), and the flag or variable they came from */
  readonly handlers?: ReadonlyArray<string>
  readonly handlersField?: string
}

// ---------------------------------------------------------------------------------------------------------------
// Module exports
// ---------------------------------------------------------------------------------------------------------------

const isTemplate = (u: unknown): u is WorkflowDefinition<unknown> =>
  Predicate.isObject(u) &&
  Predicate.hasProperty(u, "namespace") && Predicate.isString(u.namespace) &&
  Predicate.hasProperty(u, "name") && Predicate.isString(u.name) &&
  Predicate.hasProperty(u, "version") && Predicate.isString(u.version) &&
  Predicate.hasProperty(u, "steps") && Array.isArray(u.steps)

const isTemplateArray = (u: unknown): u is ReadonlyArray<WorkflowDefinition<unknown>> =>
  Array.isArray(u) && u.length > 0 && u.every(isTemplate)

const isStepHandler = (u: unknown): u is StepHandler<unknown> =>
  Predicate.isObject(u) &&
  Predicate.hasProperty(u, "kind") && (u.kind === "effect" || u.kind === "promise") &&
  Predicate.hasProperty(u, "run") && Predicate.isFunction(u.run)

type AnyLayer = Layer.Layer<never, unknown, never>

/** The templates and the layer a templates module exports; a message when it exports them wrongly. */
const templateExports = (
  module: Record<string, unknown>
): Result.Result<{ readonly templates: ReadonlyArray<WorkflowDefinition<unknown>>; readonly layer?: AnyLayer }, string> => {
  const templates: Array<WorkflowDefinition<unknown>> = []
  let layer: AnyLayer | undefined = undefined
  for (const [name, value] of Object.entries(module)) {
    if (name === "layer") {
      if (!Layer.isLayer(value)) return Result.fail("its `layer` export is not a Layer")
      layer = value as unknown as AnyLayer
    } else if (isTemplate(value)) {
      templates.push(value)
    } else if (isTemplateArray(value)) {
      templates.push(...value)
    } else if (name === "default") {
      return Result.fail("its default export is neither a workflow template nor an array of templates")
    }
  }
  if (templates.length === 0) {
    return Result.fail("the module exports no workflow templates (export them by name, or as a default array)")
  }
  return Result.succeed(layer === undefined ? { templates } : { templates, layer })
}

/** The handlers (by callable name) and the layer a handlers module exports; a message when it exports them wrongly. */
const handlerExports = (
  module: Record<string, unknown>
): Result.Result<{ readonly handlers: ReadonlyMap<string, StepHandler<unknown>>; readonly layer?: AnyLayer }, string> => {
  const handlers = new Map<string, StepHandler<unknown>>()
  let layer: AnyLayer | undefined = undefined
  const add = (name: string, handler: StepHandler<unknown>): string | undefined => {
    const seen = handlers.get(name)
    if (seen !== undefined && seen !== handler) return `it exports two different handlers named "${name}"`
    handlers.set(name, handler)
    return undefined
  }
  for (const [name, value] of Object.entries(module)) {
    if (name === "layer") {
      if (!Layer.isLayer(value)) return Result.fail("its `layer` export is not a Layer")
      layer = value as unknown as AnyLayer
    } else if (isStepHandler(value)) {
      const problem = add(name, value)
      if (problem !== undefined) return Result.fail(problem)
    } else if ((name === "handlers" || name === "default") && Predicate.isObject(value) && !Array.isArray(value)) {
      for (const [callable, handler] of Object.entries(value)) {
        if (!isStepHandler(handler)) {
          return Result.fail(
            `its ${name} export's "${callable}" is not a step handler (build handlers with handler(...) or fromPromise(...))`
          )
        }
        const problem = add(callable, handler)
        if (problem !== undefined) return Result.fail(problem)
      }
    } else if (name === "default") {
      return Result.fail("its default export is neither a step handler nor a record of step handlers")
    }
  }
  if (handlers.size === 0) {
    return Result.fail(
      "the module exports no step handlers (export them under their callable names, e.g. " +
        "`export const SquareHandler = handler(...)`, or as a `handlers` record)"
    )
  }
  return Result.succeed(layer === undefined ? { handlers } : { handlers, layer })
}

// ---------------------------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------------------------

type Source =
  | { readonly _tag: "Examples" }
  | { readonly _tag: "Yaml"; readonly spec: string; readonly path: string; readonly directory: boolean }
  | { readonly _tag: "Module"; readonly spec: string; readonly path: string }

const usage = (field: string, where: string, message: string) => new UsageError({ field, message: `${field} ${where}: ${message}` })

/** What a `--templates` value names; a missing path is a usage error. */
const classify = (spec: string, field: string): Effect.Effect<Source, UsageError> =>
  Effect.suspend((): Effect.Effect<Source, UsageError> => {
    if (spec === EXAMPLES) return Effect.succeed({ _tag: "Examples" })
    const path = resolve(spec)
    if (!existsSync(path)) return Effect.fail(usage(field, spec, `no such file or directory (${path})`))
    if (statSync(path).isDirectory()) return Effect.succeed({ _tag: "Yaml", spec, path, directory: true })
    if (!statSync(path).isFile()) return Effect.fail(usage(field, spec, `not a file or directory (${path})`))
    return Effect.succeed(isTemplateFile(path) ? { _tag: "Yaml", spec, path, directory: false } : { _tag: "Module", spec, path })
  })

const importModule = (spec: string, field: string) =>
  Effect.suspend(() => {
    const path = resolve(spec)
    if (!existsSync(path)) return Effect.fail(usage(field, spec, `no such file (${path})`))
    if (!statSync(path).isFile()) return Effect.fail(usage(field, spec, `not a file (${path})`))
    return Effect.tryPromise({
      try: () => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>,
      catch: (e) => usage(field, spec, `cannot import it: ${e instanceof Error ? e.message : String(e)}`)
    })
  })

/** A template with the file it came from, as the user named it (`./workflows/squares.yaml`, `./app.ts`). */
interface Found {
  readonly template: WorkflowDefinition<unknown>
  readonly from: string
  readonly yaml: boolean
}

/**
 * The YAML templates of a file or a directory, each with its file as the user would name it. A file that does not
 * load is a usage error naming it; so is a directory without YAML files.
 */
const loadYaml = Effect.fnUntraced(function*(source: Extract<Source, { _tag: "Yaml" }>, field: string) {
  const display = (file: string) => (source.directory ? join(source.spec, relative(source.path, file)) : source.spec)
  const invalid = (e: InvalidTemplateFile) =>
    usage(
      field,
      display(e.source),
      `${e.template === undefined ? "" : `template ${e.template}: `}${e.problems.join("; ")}`
    )
  const files = source.directory
    ? yield* loadTemplateFiles(source.path).pipe(Effect.mapError(invalid))
    : [{ file: source.path, template: yield* loadTemplateFile(source.path).pipe(Effect.mapError(invalid)) }]
  if (files.length === 0) {
    return yield* usage(field, source.spec, `the directory has no template files (*.yaml, *.yml)`)
  }
  return files.map((f): Found => ({ template: f.template, from: display(f.file), yaml: true }))
})

// ---------------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------------

/** The handlers of the handlers modules, by callable name; a usage error naming the module on any problem. */
const loadHandlers = Effect.fnUntraced(function*(specs: ReadonlyArray<string>, field: string) {
  const handlers = new Map<string, { readonly handler: StepHandler<unknown>; readonly from: string }>()
  const layers: Array<AnyLayer> = []
  for (const spec of specs) {
    const exported = handlerExports(yield* importModule(spec, field))
    if (Result.isFailure(exported)) return yield* usage(field, spec, exported.failure)
    for (const [callable, handler] of exported.success.handlers) {
      const seen = handlers.get(callable)
      if (seen !== undefined && seen.handler !== handler) {
        return yield* usage(field, spec, `handler "${callable}" is also exported by ${seen.from}`)
      }
      handlers.set(callable, { handler, from: spec })
    }
    if (exported.success.layer !== undefined) layers.push(exported.success.layer)
  }
  return { handlers, layers }
})

/**
 * Loads the templates of `specs` (paths relative to the working directory, or `examples`) and binds the YAML ones to
 * the handlers of `options.handlers`. With `requireHandlers` (a process that runs a worker) every step must have a
 * handler.
 */
export const loadTemplates = Effect.fnUntraced(function*(specs: ReadonlyArray<string>, options: LoadOptions) {
  const { field } = options
  const handlersField = options.handlersField ?? "--handlers"
  const handlerSpecs = options.handlers ?? []
  const sources = yield* Effect.forEach(specs, (spec) => classify(spec, field))
  if (handlerSpecs.length > 0 && !sources.some((s) => s._tag === "Yaml")) {
    return yield* new UsageError({
      field: handlersField,
      message: `${handlersField} ${handlerSpecs.join(", ")}: handlers modules bind the steps of YAML templates, and ` +
        `no ${field} value is a YAML file or a directory of them`
    })
  }
  const bound = yield* loadHandlers(handlerSpecs, handlersField)
  const handlers = Object.fromEntries([...bound.handlers].map(([callable, h]) => [callable, h.handler]))
  const layers: Array<AnyLayer> = [...bound.layers]

  const found: Array<Found> = []
  for (const source of sources) {
    if (source._tag === "Examples") {
      found.push(...exampleTemplates.map((template): Found => ({ template, from: EXAMPLES, yaml: false })))
    } else if (source._tag === "Yaml") {
      for (const f of yield* loadYaml(source, field)) {
        found.push({ ...f, template: withHandlers(f.template as WorkflowDefinition<never>, handlers) })
      }
    } else {
      const exported = templateExports(yield* importModule(source.spec, field))
      if (Result.isFailure(exported)) return yield* usage(field, source.spec, exported.failure)
      found.push(...exported.success.templates.map((template): Found => ({ template, from: source.spec, yaml: false })))
      if (exported.success.layer !== undefined) layers.push(exported.success.layer)
    }
  }

  const byKey = new Map<string, Found>()
  for (const entry of found) {
    const { from, template } = entry
    const key = templateKey(template)
    const seen = byKey.get(key)
    if (seen !== undefined) {
      if (seen.template === template) continue
      return yield* usage(
        field,
        from,
        `template ${key} is also defined by ${seen.from}; each namespace/name/version must be defined once`
      )
    }
    const valid = validateWorkflow(template, { requireHandlers: options.requireHandlers })
    if (Result.isFailure(valid)) {
      const unbound = entry.yaml && template.steps.some((s) => s.handler === undefined)
      const hint = !unbound
        ? ""
        : bound.handlers.size === 0
        ? ` (give the module that exports the YAML steps' handlers with --handlers or TASKER_HANDLERS)`
        : ` (the ${handlersField} modules export: ${[...bound.handlers.keys()].sort().join(", ")})`
      return yield* usage(field, from, `${valid.failure.message}${hint}`)
    }
    byKey.set(key, entry)
  }
  const [first, ...rest] = layers
  return {
    templates: [...byKey.values()].map((t) => t.template as WorkflowDefinition<never>),
    layer: first === undefined ? Layer.empty : Layer.mergeAll(first, ...rest)
  } satisfies LoadedTemplates
})
