/**
 * Handlers of the `templates` group: namespaces and stored templates with their versions.
 */
import { Effect, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import { Api } from "./Api.ts"
import { sqlFailure } from "./ErrorMapping.ts"
import { ApiNotFound } from "./Errors.ts"
import { templateSummary } from "./Views.ts"

export const TemplatesHandlers = HttpApiBuilder.group(
  Api,
  "templates",
  Effect.fn(function*(handlers) {
    const registry = yield* TemplateRegistry
    const stored = registry.listStored.pipe(Effect.catchTag("SqlError", sqlFailure))

    return handlers.handleAll({
      list: () =>
        Effect.map(stored, (templates) => {
          const names = new Map<string, Set<string>>()
          for (const t of templates) names.set(t.namespace, (names.get(t.namespace) ?? new Set()).add(t.name))
          return {
            namespaces: [...names].map(([name, templateNames]) => ({ name, template_count: templateNames.size })),
            templates: templates.map(templateSummary)
          }
        }),
      namespace: ({ params }) =>
        Effect.flatMap(stored, (templates) => {
          const matching = templates.filter((t) => t.namespace === params.namespace)
          return matching.length === 0
            ? Effect.fail(ApiNotFound.of(`namespace not found: ${params.namespace}`, "namespace"))
            : Effect.succeed({ namespace: params.namespace, templates: matching.map(templateSummary) })
        }),
      versions: ({ params }) =>
        Effect.flatMap(stored, (templates) => {
          const versions = templates.filter((t) => t.namespace === params.namespace && t.name === params.name)
          return versions.length === 0
            ? Effect.fail(ApiNotFound.of(`template not found: ${params.namespace}/${params.name}`, "name"))
            : Effect.succeed({
              namespace: params.namespace,
              name: params.name,
              versions: versions.map((t) => ({
                ...templateSummary(t),
                configuration: Schema.is(Schema.Json)(t.configuration) ? t.configuration : null
              }))
            })
        })
    })
  })
)
