/**
 * What `tasker serve`, `tasker orchestrator` and `tasker worker` run (loaded by `ServeCommand.ts` when one of them
 * starts).
 *
 * Each logs the database it uses as its first line, then launches its layers (`Layer.launch`) until SIGINT or
 * SIGTERM: the layers are released in reverse (the API stops accepting requests, workers give their running steps
 * back after `TASKER_SHUTDOWN_GRACE_MS`, the processor is marked stopped, the database closed) and the process
 * exits 0.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Config, Console, Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { type EngineOptions, engineLayer } from "../../layers/engine.ts"
import { apiServerLayer } from "../../layers/api.ts"
import { type ApiServerOptions, apiServerOptionsFromEnv, DEFAULT_API_PORT } from "../api/ServerOptions.ts"
import { ApiKeys } from "../db/ApiKeys.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { metricsEndpointLayer } from "../telemetry/MetricsEndpoint.ts"
import { exampleTemplates } from "../examples/index.ts"
import { exampleTaskTemplates, submitExampleTasks } from "../examples/ExampleTasks.ts"
import { engineConfigFromEnv } from "../config/EngineConfig.ts"
import { templateKey, type WorkflowDefinition } from "../workflow/Workflow.ts"
import { UsageError } from "./Failure.ts"
import { type EngineFlags, engineOverrides, override } from "./Flags.ts"
import { DEFAULT_ORCHESTRATOR_HEALTH_PORT, DEFAULT_WORKER_HEALTH_PORT, parseRoles, type Role, ROLES } from "./ServeCommand.ts"
import { type DataLayer, databaseLayer } from "../../layers/database.ts"
import { databaseChoice, type DatabaseChoice, withSettings } from "./Settings.ts"
import { type LoadedTemplates, loadTemplates } from "./Templates.ts"

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

/** `TASKER_ROLES` (default all three), checked. */
const rolesConfig = Effect.gen(function*() {
  const text = yield* Config.String("TASKER_ROLES").pipe(Config.withDefault(ROLES.join(",")))
  try {
    return parseRoles(text)
  } catch (e) {
    return yield* new UsageError({ field: "TASKER_ROLES", message: `TASKER_ROLES: expected ${(e as Error).message}` })
  }
})

/** A TCP port, 0 included (0 picks a free port; `Config.Port` would reject it). */
const portConfig = Effect.fnUntraced(function*(name: string, fallback: number) {
  const port = yield* Config.Int(name).pipe(Config.withDefault(fallback))
  if (port < 0 || port > 65535) {
    return yield* new UsageError({ field: name, message: `${name}: expected a port between 0 and 65535, got ${port}` })
  }
  return port
})

/**
 * The API server's options from the environment (`apiServerOptionsFromEnv`: `TASKER_API_HOST`, `TASKER_API_PORT`,
 * `TASKER_API_TOKEN`, `TASKER_API_MAX_BODY_BYTES`, …), with a bad port or token reported as a usage error.
 */
const apiOptionsConfig = Effect.gen(function*() {
  const port = yield* portConfig("TASKER_API_PORT", DEFAULT_API_PORT)
  const options = yield* apiServerOptionsFromEnv.pipe(
    Effect.catchTag("InvalidApiToken", (e) => Effect.fail(new UsageError({ field: e.variable, message: e.message })))
  )
  return { ...options, port } satisfies ApiServerOptions
})

const commaList = (text: string): ReadonlyArray<string> => text.split(",").map((n) => n.trim()).filter((n) => n.length > 0)

/**
 * The templates to host: those of `--templates` (the flag's values) or `TASKER_TEMPLATES` (comma-separated), else
 * the examples; the YAML ones bound to the handlers of `--handlers` or `TASKER_HANDLERS` (comma-separated). With
 * `requireHandlers` (the process runs a worker) every step needs a handler.
 */
const templatesConfig = Effect.fnUntraced(function*(
  flags: { readonly templates: ReadonlyArray<string>; readonly handlers: ReadonlyArray<string> },
  requireHandlers: boolean
) {
  const specs = flags.templates.length > 0
    ? flags.templates
    : commaList(yield* Config.String("TASKER_TEMPLATES").pipe(Config.withDefault("")))
  const handlers = flags.handlers.length > 0
    ? flags.handlers
    : commaList(yield* Config.String("TASKER_HANDLERS").pipe(Config.withDefault("")))
  const handlersField = flags.handlers.length > 0 ? "--handlers" : "TASKER_HANDLERS"
  if (specs.length === 0 && handlers.length > 0) {
    return yield* new UsageError({
      field: handlersField,
      message: `${handlersField}: handlers modules bind the steps of YAML templates; name the templates with ` +
        `--templates (or TASKER_TEMPLATES)`
    })
  }
  if (specs.length === 0) return { templates: exampleTemplates, layer: Layer.empty } satisfies LoadedTemplates
  return yield* loadTemplates(specs, {
    field: flags.templates.length > 0 ? "--templates" : "TASKER_TEMPLATES",
    requireHandlers,
    handlers,
    handlersField
  })
})

/**
 * `--namespace` / `TASKER_WORKER_NAMESPACES` (comma-separated; empty: all), checked against the namespaces of the
 * hosted templates. `field` names where the list came from.
 */
const namespacesConfig = Effect.fnUntraced(function*(known: ReadonlyArray<string>, field: string) {
  const namespaces = [...new Set(commaList(yield* Config.String("TASKER_WORKER_NAMESPACES").pipe(Config.withDefault(""))))]
  const unknown = namespaces.filter((n) => !known.includes(n))
  if (unknown.length > 0) {
    return yield* new UsageError({
      field,
      message: `${field}: unknown namespace ${unknown.map((n) => `"${n}"`).join(", ")}; the hosted templates' ` +
        `namespaces: ${known.join(", ")}`
    })
  }
  return namespaces.length === 0 ? known : namespaces
})

/**
 * `--examples` / `TASKER_EXAMPLES`: whether to submit the example tasks, checked against the hosted templates (the
 * examples must be among them).
 */
const examplesConfig = Effect.fnUntraced(function*(templates: ReadonlyArray<WorkflowDefinition<never>>) {
  const on = yield* Config.Boolean("TASKER_EXAMPLES").pipe(Config.withDefault(false))
  const missing = exampleTaskTemplates.filter((t) => !templates.some((h) => templateKey(h) === templateKey(t)))
  if (on && missing.length > 0) {
    return yield* new UsageError({
      field: "--examples",
      message: `--examples (TASKER_EXAMPLES) submits tasks of the example templates, which this process does not ` +
        `host: ${missing.map(templateKey).join(", ")}; add \`--templates examples\``
    })
  }
  return on
})

const namespacesOf = (templates: ReadonlyArray<WorkflowDefinition<never>>) => [...new Set(templates.map((t) => t.namespace))]

// ---------------------------------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------------------------------

/** `http://host:port` of a bound server; a wildcard address is shown as the loopback one. */
export const displayUrl = (server: HttpServer.HttpServer["Service"]): string => {
  const url = new URL(HttpServer.formatAddress(server.address))
  if (url.hostname === "0.0.0.0") url.hostname = "127.0.0.1"
  if (url.hostname === "[::]") url.hostname = "[::1]"
  return url.origin
}

const AUTH_HEADER = ` -H "Authorization: Bearer $TASKER_API_TOKEN"`

const LINEAR_EXAMPLE = {
  namespace: "rust_e2e_linear",
  name: "mathematical_sequence",
  version: "1.0.0",
  context: { even_number: 6 }
}

/**
 * The copy-paste request that creates a task (the token by reference, never its value): by default of the linear
 * example.
 */
export const curlCreateTask = (
  baseUrl: string,
  withToken: boolean,
  request: { readonly namespace: string; readonly name: string; readonly version: string; readonly context: object } =
    LINEAR_EXAMPLE
): string => {
  const body = JSON.stringify({
    namespace: request.namespace,
    name: request.name,
    version: request.version,
    context: request.context
  })
  return `curl -sS -X POST ${baseUrl}/v1/tasks -H 'Content-Type: application/json'${
    withToken ? AUTH_HEADER : ""
  } -d '${body}'`
}

/**
 * Prints where the API is and how to use it, once the server is bound; logs the start of the shutdown. The
 * example request is the linear example's when it is hosted, else one for the first template (its context to be
 * filled in). With `examples` (`--examples`), it submits the example tasks before and says what it did.
 */
const apiBanner = (
  withToken: boolean,
  roles: ReadonlySet<Role>,
  templates: ReadonlyArray<WorkflowDefinition<never>>,
  examples: boolean
) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const url = displayUrl(yield* HttpServer.HttpServer)
    const auth = withToken ? AUTH_HEADER : ""
    const keys = yield* (yield* ApiKeys).anyActive.pipe(Effect.orElseSucceed(() => false))
    const authentication = withToken
      ? "on (TASKER_API_TOKEN" + (keys ? " and API keys)" : ")")
      : keys
      ? "on (API keys)"
      : "off (no TASKER_API_TOKEN and no API key: anyone who reaches this address can use the API)"
    yield* Effect.logInfo(`API listening on ${url}`, { roles: [...roles].join(","), authentication })
    yield* Console.log(`tasker API: ${url}  (roles: ${[...roles].join(", ")}; API docs: ${url}/docs)`)
    yield* Console.log(`Authentication: ${authentication}`)
    yield* Console.log(`Dashboard: ${url}/ui/${withToken || keys ? "  (paste an API token or key when it asks)" : ""}`)
    if (examples) yield* Console.log(yield* exampleTasksNotice(`${url}/ui/tasks`))
    const linear = templates.some((t) =>
      t.namespace === LINEAR_EXAMPLE.namespace && t.name === LINEAR_EXAMPLE.name && t.version === LINEAR_EXAMPLE.version
    )
    const first = templates[0]
    if (linear || first === undefined) {
      yield* Console.log(`Create a task of the linear example (even_number 6, final result 2821109907456):`)
      yield* Console.log(`  ${curlCreateTask(url, withToken)}`)
    } else {
      yield* Console.log(`Templates: ${templates.map(templateKey).join(", ")}`)
      yield* Console.log(`Create a task of ${templateKey(first)} (fill in its context):`)
      yield* Console.log(`  ${curlCreateTask(url, withToken, { ...first, context: {} })}`)
    }
    yield* Console.log(`Then read it:`)
    yield* Console.log(`  curl -sS ${url}/v1/tasks/<task_uuid>${auth}`)
    yield* Effect.addFinalizer(() => Effect.logInfo("shutting down"))
  })).pipe(Layer.provide(ApiKeys.layer))

/**
 * Submits the example tasks into a database without tasks (`ExampleTasks.ts`) and says what it did, in one line;
 * a failure is logged and said, and the process serves on.
 */
const exampleTasksNotice = (where: string) =>
  submitExampleTasks().pipe(
    Effect.map((created) =>
      created.length > 0
        ? `Example tasks (--examples): submitted ${created.length} into the empty database; see them at ${where}`
        : `Example tasks (--examples): none submitted, the database has tasks already`
    ),
    Effect.catch((e) =>
      Effect.as(
        Effect.logWarning("submitting the example tasks failed", e),
        `Example tasks (--examples): not submitted (${e._tag}; see the log)`
      )
    )
  )

/** Logs the start of the shutdown of a process without an API. */
const shutdownNotice = Layer.effectDiscard(Effect.addFinalizer(() => Effect.logInfo("shutting down")))

const embeddedWarning = (choice: DatabaseChoice, command: string) =>
  choice._tag === "Embedded"
    ? Effect.logWarning(
      `the embedded database lives inside this process: no other process can share its work. Set DATABASE_URL ` +
        `to run \`tasker ${command}\` next to other tasker processes`
    )
    : Effect.void

/**
 * The health server of a process without the API (`tasker worker`, `tasker orchestrator`): `GET /health` (the
 * process answers), `GET /ready` (the database answers) and `GET /metrics` (Prometheus text, or OpenMetrics with exemplars
 * when asked, of every metric in this process's registry: `MetricsEndpoint.ts`). `details` are added to the answers of `/health` and `/ready` (with the processor's UUID).
 */
export const healthServerLayer = (options: {
  readonly host: string
  readonly port: number
  readonly details: Readonly<Record<string, unknown>>
}) => {
  const routes = HttpRouter.use((router) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const processor = yield* CurrentProcessor
      const info = { processor_uuid: processor.processorUuid, ...options.details }
      yield* router.add(
        "GET",
        "/health",
        Effect.sync(() => HttpServerResponse.jsonUnsafe({ status: "healthy", timestamp: new Date(), ...info }))
      )
      yield* router.add(
        "GET",
        "/ready",
        sql`SELECT 1 AS ok`.pipe(
          Effect.timeout("2 seconds"),
          Effect.match({
            onFailure: (e) =>
              HttpServerResponse.jsonUnsafe({
                status: "not_ready",
                timestamp: new Date(),
                message: `database check failed: ${e.message}`
              }, { status: 503 }),
            onSuccess: () => HttpServerResponse.jsonUnsafe({ status: "ready", timestamp: new Date(), ...info })
          })
        )
      )
    })
  )
  return HttpRouter.serve(Layer.mergeAll(routes, metricsEndpointLayer("/metrics")), {
    disableLogger: true
  }).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { host: options.host, port: options.port })))
}

/** Prints where the health server of a `worker` or `orchestrator` process is, once bound; logs the shutdown. */
const healthBanner = (command: "worker" | "orchestrator") =>
  Layer.effectDiscard(Effect.gen(function*() {
    const url = displayUrl(yield* HttpServer.HttpServer)
    yield* Effect.logInfo(`${command} health server on ${url}`)
    yield* Console.log(`tasker ${command} health: ${url}/health  ready: ${url}/ready  metrics: ${url}/metrics`)
    yield* Effect.addFinalizer(() => Effect.logInfo("shutting down"))
  }))

/**
 * `healthServerLayer` with its banner, configured by `TASKER_<COMMAND>_HEALTH_HOST` (default 127.0.0.1) and
 * `TASKER_<COMMAND>_HEALTH_PORT` (default `defaultPort`; 0 picks a free port).
 */
const healthLayer = Effect.fnUntraced(function*(
  command: "worker" | "orchestrator",
  defaultPort: number,
  details: Readonly<Record<string, unknown>>
) {
  const prefix = `TASKER_${command.toUpperCase()}_HEALTH`
  const host = yield* Config.String(`${prefix}_HOST`).pipe(Config.withDefault("127.0.0.1"))
  const port = yield* portConfig(`${prefix}_PORT`, defaultPort)
  return healthBanner(command).pipe(Layer.provideMerge(healthServerLayer({ host, port, details })))
})

// ---------------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------------

export interface ServeFlags extends EngineFlags {
  readonly host: Option.Option<string>
  readonly port: Option.Option<number>
  readonly roles: Option.Option<string>
  readonly allowUnauthenticated: boolean
  readonly examples: boolean
  readonly templates: ReadonlyArray<string>
  readonly handlers: ReadonlyArray<string>
}

/**
 * The engine for `templates`, with the services their handlers need (the modules' `layer`, which may use the
 * engine's database) provided.
 */
const hostingEngine = (
  loaded: LoadedTemplates,
  database: DataLayer,
  options: Omit<EngineOptions<never>, "templates">
) => engineLayer({ ...options, templates: loaded.templates }).pipe(Layer.provide(loaded.layer.pipe(Layer.provide(database))))

/** `tasker serve`. */
export const serve = (flags: ServeFlags) => {
  let overrides = engineOverrides(flags)
  overrides = override(overrides, "TASKER_API_HOST", flags.host)
  overrides = override(overrides, "TASKER_API_PORT", flags.port)
  overrides = override(overrides, "TASKER_ROLES", flags.roles)
  if (flags.allowUnauthenticated) overrides = { ...overrides, TASKER_API_ALLOW_UNAUTHENTICATED: "true" }
  if (flags.examples) overrides = { ...overrides, TASKER_EXAMPLES: "true" }
  return Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    const roles = yield* rolesConfig
    const loaded = yield* templatesConfig(flags, roles.has("worker"))
    const examples = yield* examplesConfig(loaded.templates)
    const settings = yield* engineConfigFromEnv
    const apiOptions = yield* apiOptionsConfig
    const database = databaseLayer(choice)
    const engine = hostingEngine(loaded, database, {
      orchestrator: roles.has("orchestrator"),
      worker: roles.has("worker"),
      settings
    })
    if (!roles.has("api")) {
      const notice = examples
        ? Layer.effectDiscard(Effect.flatMap(exampleTasksNotice("GET /v1/tasks?tag=example"), Effect.logInfo))
        : Layer.empty
      return yield* Layer.launch(Layer.mergeAll(shutdownNotice, notice).pipe(Layer.provideMerge(engine), Layer.provide(database)))
    }
    const api = apiBanner(apiOptions.token !== undefined, roles, loaded.templates, examples).pipe(
      Layer.provideMerge(apiServerLayer(apiOptions))
    )
    const launched: Effect.Effect<never, Layer.Error<typeof api> | Layer.Error<typeof engine> | Layer.Error<typeof database>> =
      Layer.launch(api.pipe(Layer.provide(engine), Layer.provide(database)))
    return yield* launched
  }).pipe(withSettings(overrides))
}

export interface OrchestratorFlags extends EngineFlags {
  readonly healthHost: Option.Option<string>
  readonly healthPort: Option.Option<number>
}

/** `tasker orchestrator`. */
export const orchestrator = (flags: OrchestratorFlags) => {
  let overrides = engineOverrides(flags)
  overrides = override(overrides, "TASKER_ORCHESTRATOR_HEALTH_HOST", flags.healthHost)
  overrides = override(overrides, "TASKER_ORCHESTRATOR_HEALTH_PORT", flags.healthPort)
  return Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    yield* embeddedWarning(choice, "orchestrator")
    const settings = yield* engineConfigFromEnv
    const health = yield* healthLayer("orchestrator", DEFAULT_ORCHESTRATOR_HEALTH_PORT, { role: "orchestrator" })
    const engine = engineLayer({ orchestrator: true, settings })
    yield* Effect.logInfo("orchestrator starting (results, readiness and give-up loops)")
    return yield* Layer.launch(health.pipe(Layer.provideMerge(engine), Layer.provide(databaseLayer(choice))))
  }).pipe(withSettings(overrides))
}

export interface WorkerFlags extends EngineFlags {
  readonly namespace: ReadonlyArray<string>
  readonly templates: ReadonlyArray<string>
  readonly handlers: ReadonlyArray<string>
  readonly healthHost: Option.Option<string>
  readonly healthPort: Option.Option<number>
}

/** `tasker worker`. */
export const worker = (flags: WorkerFlags) => {
  let overrides = engineOverrides(flags)
  if (flags.namespace.length > 0) overrides = { ...overrides, TASKER_WORKER_NAMESPACES: flags.namespace.join(",") }
  overrides = override(overrides, "TASKER_WORKER_HEALTH_HOST", flags.healthHost)
  overrides = override(overrides, "TASKER_WORKER_HEALTH_PORT", flags.healthPort)
  return Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    yield* embeddedWarning(choice, "worker")
    const loaded = yield* templatesConfig(flags, true)
    const namespaces = yield* namespacesConfig(
      namespacesOf(loaded.templates),
      flags.namespace.length > 0 ? "--namespace" : "TASKER_WORKER_NAMESPACES"
    )
    const health = yield* healthLayer("worker", DEFAULT_WORKER_HEALTH_PORT, { role: "worker", namespaces })
    const settings = yield* engineConfigFromEnv
    const database = databaseLayer(choice)
    const engine = hostingEngine(
      { ...loaded, templates: loaded.templates.filter((t) => namespaces.includes(t.namespace)) },
      database,
      { orchestrator: false, settings }
    )
    return yield* Layer.launch(health.pipe(Layer.provideMerge(engine), Layer.provide(database)))
  }).pipe(withSettings(overrides))
}
