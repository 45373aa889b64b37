/**
 * Workflow templates from the user's modules: `tasker serve|worker --templates <module>` (repeatable) or
 * `TASKER_TEMPLATES` (comma-separated). Without either, the example templates are hosted.
 *
 * A templates module is an ES module (`.js`, `.mjs`, or `.ts` with only erasable TypeScript, which Node runs
 * directly) that exports:
 *
 * - its templates (`WorkflowDefinition`s, e.g. built with `Workflow.make`): as named exports, as a default export
 *   (one template or an array of them), or as a named array of templates. The same template object exported
 *   twice counts once. Other named exports are ignored;
 * - optionally `layer`: a `Layer` that provides the services the handlers need. It may use the engine's database
 *   (`SqlClient`); it is built once, when the process starts.
 *
 * The value `examples` stands for the built-in example templates, so `--templates examples --templates ./app.ts`
 * hosts both. Any problem with a module (missing file, failed import, no templates, a template that does not
 * validate, two different templates with the same namespace/name/version) is a `UsageError` naming the flag or
 * variable (exit code 2).
 */
import { existsSync, statSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer, Predicate, Result } from "effect"
import { exampleTemplates } from "../examples/index.ts"
import { templateKey, validateWorkflow, type WorkflowDefinition } from "../workflow/Workflow.ts"
import { UsageError } from "./Failure.ts"

/** The value of `--templates` that stands for the built-in example templates. */
export const EXAMPLES = "examples"

export interface LoadedTemplates {
  readonly templates: ReadonlyArray<WorkflowDefinition<never>>
  /** the modules' `layer` exports merged (`Layer.empty` when none) */
  readonly layer: Layer.Layer<never, unknown, never>
}

const isTemplate = (u: unknown): u is WorkflowDefinition<unknown> =>
  Predicate.isObject(u) &&
  Predicate.hasProperty(u, "namespace") && Predicate.isString(u.namespace) &&
  Predicate.hasProperty(u, "name") && Predicate.isString(u.name) &&
  Predicate.hasProperty(u, "version") && Predicate.isString(u.version) &&
  Predicate.hasProperty(u, "steps") && Array.isArray(u.steps)

const isTemplateArray = (u: unknown): u is ReadonlyArray<WorkflowDefinition<unknown>> =>
  Array.isArray(u) && u.length > 0 && u.every(isTemplate)

/** The templates and the layer a module exports; a message when it exports them wrongly. */
const exportsOf = (
  module: Record<string, unknown>
): Result.Result<{ readonly templates: ReadonlyArray<WorkflowDefinition<unknown>>; readonly layer?: unknown }, string> => {
  const templates: Array<WorkflowDefinition<unknown>> = []
  let layer: unknown = undefined
  for (const [name, value] of Object.entries(module)) {
    if (name === "layer") {
      if (!Layer.isLayer(value)) return Result.fail("its `layer` export is not a Layer")
      layer = value
    } else if (isTemplate(value)) {
      templates.push(value)
    } else if (isTemplateArray(value)) {
      templates.push(...value)
    } else if (name === "default") {
      return Result.fail("its default export is neither a workflow template nor an array of templates")
    }
  }
  return Result.succeed({ templates, layer })
}

const importModule = (spec: string, field: string) =>
  Effect.gen(function*() {
    const path = resolve(spec)
    const problem = (message: string) => new UsageError({ field, message: `${field} ${spec}: ${message}` })
    if (!existsSync(path)) return yield* problem(`no such file (${path})`)
    if (!statSync(path).isFile()) return yield* problem(`not a file (${path})`)
    return yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>,
      catch: (e) => problem(`cannot import it: ${e instanceof Error ? e.message : String(e)}`)
    })
  })

/**
 * Loads the templates of `specs` (module paths, relative to the working directory, or `examples`). With
 * `requireHandlers` (a process that runs a worker) every step must have a handler. `field` names the flag or the
 * variable the specs came from, for the error messages.
 */
export const loadTemplates = Effect.fnUntraced(function*(
  specs: ReadonlyArray<string>,
  options: { readonly field: string; readonly requireHandlers: boolean }
) {
  const { field } = options
  const byKey = new Map<string, { readonly template: WorkflowDefinition<unknown>; readonly from: string }>()
  const layers: Array<Layer.Layer<never, unknown, never>> = []
  for (const spec of specs) {
    let found: ReadonlyArray<WorkflowDefinition<unknown>>
    if (spec === EXAMPLES) {
      found = exampleTemplates
    } else {
      const module = yield* importModule(spec, field)
      const exported = exportsOf(module)
      if (Result.isFailure(exported)) {
        return yield* new UsageError({ field, message: `${field} ${spec}: ${exported.failure}` })
      }
      if (exported.success.templates.length === 0) {
        return yield* new UsageError({
          field,
          message: `${field} ${spec}: the module exports no workflow templates (export them by name, or as a ` +
            `default array)`
        })
      }
      found = exported.success.templates
      if (exported.success.layer !== undefined) layers.push(exported.success.layer as Layer.Layer<never, unknown, never>)
    }
    for (const template of found) {
      const key = templateKey(template)
      const seen = byKey.get(key)
      if (seen !== undefined) {
        if (seen.template === template) continue
        return yield* new UsageError({
          field,
          message: `${field} ${spec}: template ${key} is also defined by ${seen.from}; each namespace/name/version ` +
            `must be defined once`
        })
      }
      const valid = validateWorkflow(template, { requireHandlers: options.requireHandlers })
      if (Result.isFailure(valid)) {
        return yield* new UsageError({ field, message: `${field} ${spec}: ${valid.failure.message}` })
      }
      byKey.set(key, { template, from: spec })
    }
  }
  const [first, ...rest] = layers
  return {
    templates: [...byKey.values()].map((t) => t.template as WorkflowDefinition<never>),
    layer: first === undefined ? Layer.empty : Layer.mergeAll(first, ...rest)
  } satisfies LoadedTemplates
})
