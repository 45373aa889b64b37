/**
 * The REST API server: handlers for every endpoint of `Api`, the authorization and request-error middlewares,
 * a router-wide safety net that keeps every error in the `{"error": {...}}` shape, the OpenAPI document
 * (`/openapi.json`) and a Scalar docs page (`/docs`), served by `NodeHttpServer`.
 *
 * ```ts
 * const Main = ApiServerLayer.pipe(                       // TASKER_API_HOST / _PORT / _TOKEN / _MAX_BODY_BYTES
 *   Layer.provide(engineLayer({ templates })),
 *   Layer.provide(PostgresLayer)
 * )
 * Layer.launch(Main).pipe(NodeRuntime.runMain)
 * ```
 *
 * The handlers need the engine's services (`TaskInitializer`, `TaskQueries`, `TaskOperations`,
 * `TemplateRegistry`, `ReadinessFunctions`, `CurrentProcessor`, `EngineConfig`) and a `SqlClient`: provide
 * `engineLayer(...)` over a database layer. The engine's loops need not run in the same process.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { ByteSize, Cause, Config, Duration, Effect, Layer, Option, Redacted, Schema, SchemaAST, SchemaIssue } from "effect"
import type * as Types from "effect/Types"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerResponse as Response
} from "effect/http"
import { HttpApiBuilder, HttpApiError, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient, SqlError, SqlSchema } from "effect/sql"
import { CurrentProcessor } from "../db/Processors.ts"
import { ReadinessFunctions, type StepReadinessStatus, type TaskExecutionContext } from "../db/SqlFunctions.ts"
import type { InvalidTransition, NotFound, OwnershipConflict, StaleState } from "../domain/Errors.ts"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { EngineConfig } from "../orchestration/EngineConfig.ts"
import { type InvalidTaskRequest, TaskInitializer, type TaskRequest } from "../orchestration/TaskInitializer.ts"
import { TaskListing } from "../orchestration/TaskListing.ts"
import { TaskOperations } from "../orchestration/TaskOperations.ts"
import { type StepRow, TaskQueries } from "../orchestration/TaskQueries.ts"
import { type StoredTemplate, type TemplateNotFound, TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import { connectionErrorType } from "../telemetry/SqlMetrics.ts"
import { InvalidTemplate } from "../workflow/Workflow.ts"
import { Api, Authorization, CORRELATION_HEADER, RequestErrors } from "./Api.ts"
import {
  ApiBadRequest,
  ApiConflict,
  ApiInternalError,
  ApiNotFound,
  ApiPayloadTooLarge,
  ApiServiceUnavailable,
  ApiUnauthorized,
  ApiValidationError,
  type ErrorCode,
  type ReadinessCheck
} from "./Errors.ts"
import {
  DEFAULT_PER_PAGE,
  DEFAULT_WAIT_MS,
  type ExecutionView,
  finishedTaskStates,
  type StepView,
  type TemplateSummary
} from "./Models.ts"

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

export interface ApiServerOptions {
  /** interface to listen on (default 127.0.0.1) */
  readonly host?: string | undefined
  /** port (default 8080; 0 picks a free port, read it from `HttpServer.HttpServer`'s `address`) */
  readonly port?: number | undefined
  /** when set, every `/v1` request needs `Authorization: Bearer <token>` or `X-API-Key: <token>` */
  readonly token?: Redacted.Redacted<string> | string | undefined
  /** the largest request body accepted (default 1 MiB); larger bodies are a 413 */
  readonly maxBodyBytes?: number | undefined
  /** log one line per request (default true) */
  readonly logRequests?: boolean | undefined
}

export const DEFAULT_API_HOST = "127.0.0.1"
export const DEFAULT_API_PORT = 8080
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** A port to listen on: 0 to 65535, where 0 lets the system pick a free one. */
export const ListenPort = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/**
 * Options from the environment: `TASKER_API_HOST` (default 127.0.0.1), `TASKER_API_PORT` (default 8080; 0 picks a free port),
 * `TASKER_API_TOKEN` (optional: turns authentication on), `TASKER_API_MAX_BODY_BYTES` (default 1048576).
 */
export const apiServerOptionsFromEnv = Effect.gen(function*() {
  const host = yield* Config.String("TASKER_API_HOST").pipe(Config.withDefault(DEFAULT_API_HOST))
  const port = yield* Config.schema(ListenPort, "TASKER_API_PORT").pipe(Config.withDefault(DEFAULT_API_PORT))
  const token = yield* Config.Redacted("TASKER_API_TOKEN").pipe(Config.option)
  const maxBodyBytes = yield* Config.Int("TASKER_API_MAX_BODY_BYTES").pipe(Config.withDefault(DEFAULT_MAX_BODY_BYTES))
  return {
    host,
    port,
    token: Option.getOrUndefined(token),
    maxBodyBytes
  } satisfies ApiServerOptions
})

// ---------------------------------------------------------------------------------------------------------------
// Middlewares
// ---------------------------------------------------------------------------------------------------------------

const digest = (value: string) => createHash("sha256").update(value).digest()

/** `Authorization`: every request passes when no token is configured; otherwise the token must match. */
export const authorizationLayer = (token: Redacted.Redacted<string> | string | undefined) => {
  const expected = token === undefined ? undefined : digest(Redacted.isRedacted(token) ? Redacted.value(token) : token)
  const check = <A, E, R>(httpEffect: Effect.Effect<A, E, R>, credential: Redacted.Redacted<string>) => {
    if (expected === undefined) return httpEffect
    // compared as digests, so the comparison takes the same time whatever the length of the candidate
    const given = Redacted.value(credential)
    return given.length > 0 && timingSafeEqual(digest(given), expected)
      ? httpEffect
      : Effect.fail(ApiUnauthorized.of("missing or invalid API token (Authorization: Bearer <token> or X-API-Key)"))
  }
  return Layer.succeed(Authorization, {
    bearer: (httpEffect, { credential }) => check(httpEffect, credential),
    apiKey: (httpEffect, { credential }) => check(httpEffect, credential)
  })
}

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Request fields that must be UUIDs: a decoding failure there is an `INVALID_UUID`. */
const uuidFields = new Set(["task_uuid", "step_uuid", "correlation_id", "parent_correlation_id", CORRELATION_HEADER])

/**
 * The field that tells the members of a union of objects apart (`action` of a step action), for a value that
 * matched no member: the field to name in the error.
 */
const unionDiscriminator = (issue: SchemaIssue.Issue): string | undefined => {
  if (issue._tag !== "AnyOf") return undefined
  // the payload decoder wraps the endpoint's payload schemas in a union of its own
  if (issue.issues.length === 1 && issue.issues[0]!._tag === "AnyOf") return unionDiscriminator(issue.issues[0]!)
  const members = issue.ast.types
  if (members.length === 0 || !members.every(SchemaAST.isObjects)) return undefined
  const [first, ...rest] = members
  const literal = first!.propertySignatures.find((p) =>
    SchemaAST.isLiteral(p.type) &&
    rest.every((m) => m.propertySignatures.some((q) => q.name === p.name && SchemaAST.isLiteral(q.type)))
  )
  return literal === undefined ? undefined : String(literal.name)
}

/** A request decoding failure as a 400 naming the field: a dotted body path, a parameter or a header name. */
const badRequestOf = (error: HttpApiError.HttpApiSchemaError): ApiBadRequest => {
  const issue = issueFormatter(error.cause.issue).issues[0]
  const issuePath = (issue?.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))
  const discriminator = issuePath.length === 0 ? unionDiscriminator(error.cause.issue) : undefined
  const path = discriminator === undefined ? issuePath : [discriminator]
  const message = issue?.message ?? error.cause.message
  if (error.kind === "Payload" && message === "Expected a valid JSON body") {
    return ApiBadRequest.of("the request body is not valid JSON", "body", "INVALID_JSON")
  }
  const field = path.length > 0 ? path.join(".") : error.kind === "Payload" ? "body" : error.kind.toLowerCase()
  const where = error.kind === "Payload" ? "body" : error.kind === "Params" ? "path" : error.kind.toLowerCase()
  return ApiBadRequest.of(
    `invalid ${where} field ${field}: ${message}`,
    field,
    uuidFields.has(path[path.length - 1] ?? "") ? "INVALID_UUID" : "BAD_REQUEST"
  )
}

const isBodyReadError = (defect: unknown): defect is HttpServerError.HttpServerError =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError"

type RequestError = ApiBadRequest | ApiPayloadTooLarge | ApiInternalError | ApiServiceUnavailable

/** Database failures besides a lost connection that a client should simply retry. */
const RETRYABLE_SQL_REASONS: ReadonlySet<string> = new Set([
  "DeadlockError",
  "SerializationError",
  "LockTimeoutError",
  "StatementTimeoutError"
])

/**
 * A database failure a client should simply retry: the connection is gone or cannot be opened (`connectionErrorType`:
 * the database is restarting, the backend was terminated), a deadlock, a serialization conflict, a lock or
 * statement timeout.
 */
const isTransientSqlError = (defect: unknown): defect is SqlError.SqlError =>
  SqlError.isSqlError(defect) &&
  (connectionErrorType(defect) !== undefined || RETRYABLE_SQL_REASONS.has(defect.reason._tag))

/**
 * `RequestErrors`: decoding failures → 400, oversize or unreadable bodies → 413/400, a transient database failure
 * (connection lost, deadlock, timeout) → 503, other defects → 500.
 */
export const requestErrorsLayer = (maxBodyBytes: number) =>
  Layer.succeed(RequestErrors, (httpEffect) =>
    httpEffect.pipe(
      Effect.catch((error): Effect.Effect<never, RequestError | Types.unhandled> => {
        if (!HttpApiError.HttpApiSchemaError.is(error)) return Effect.fail(error)
        if (error.kind === "Body" || error.kind === "ResponseHeaders") {
          // our own response did not encode: a bug, never the caller's fault
          return Effect.logError("response encoding failed", error.cause).pipe(
            Effect.andThen(Effect.fail(ApiInternalError.of()))
          )
        }
        return Effect.fail(badRequestOf(error))
      }),
      Effect.catchDefect((defect): Effect.Effect<never, RequestError> => {
        if (isBodyReadError(defect)) {
          const reason = defect.reason as HttpServerError.RequestParseError
          return Effect.fail(
            reason.reason === "BodyTooLarge"
              ? ApiPayloadTooLarge.of(`the request body is larger than ${maxBodyBytes} bytes`)
              : ApiBadRequest.of("the request body could not be read", "body")
          )
        }
        if (isTransientSqlError(defect)) {
          // nothing was committed (a request's writes are one transaction): the client may retry as it is
          return Effect.logWarning("request failed: database unavailable", { reason: defect.reason._tag }).pipe(
            Effect.andThen(Effect.fail(ApiServiceUnavailable.of(
              `the database is unavailable (${defect.reason._tag}); retry the request`
            )))
          )
        }
        return Effect.logError("request failed", Cause.die(defect)).pipe(Effect.andThen(Effect.fail(ApiInternalError.of())))
      })
    ))

const codeOfStatus = (status: number): ErrorCode => {
  switch (status) {
    case 401:
      return "UNAUTHORIZED"
    case 404:
      return "NOT_FOUND"
    case 405:
      return "METHOD_NOT_ALLOWED"
    case 409:
      return "CONFLICT"
    case 413:
      return "PAYLOAD_TOO_LARGE"
    case 415:
      return "UNSUPPORTED_MEDIA_TYPE"
    case 422:
      return "VALIDATION_ERROR"
    case 503:
      return "SERVICE_UNAVAILABLE"
    default:
      return status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST"
  }
}

const errorResponse = (status: number, message: string, field?: string) =>
  Response.jsonUnsafe({ error: { code: codeOfStatus(status), message, ...(field === undefined ? {} : { field }) } }, {
    status
  })

const isJsonBody = (response: Response.HttpServerResponse) =>
  (("contentType" in response.body ? response.body.contentType : undefined) ?? response.headers["content-type"] ?? "")
    .includes("json")

/**
 * Router-wide: limits request bodies to `maxBodyBytes`, and answers whatever the API middlewares do not see
 * (unknown routes, an unsupported content type, defects outside handlers) in the error shape. Error responses
 * that are not JSON are replaced by the error shape with the same status.
 */
const errorShapeLayer = (maxBodyBytes: number) =>
  HttpRouter.middleware((httpEffect): Effect.Effect<Response.HttpServerResponse, Types.unhandled> =>
    httpEffect.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        const error = Cause.squash(cause)
        if (HttpServerError.isHttpServerError(error)) {
          switch (error.reason._tag) {
            case "RouteNotFound":
              return Effect.succeed(
                errorResponse(404, `no route for ${error.request.method} ${error.request.url.split("?")[0]!.slice(0, 200)}`)
              )
            case "RequestParseError":
              return Effect.succeed(
                error.reason.reason === "BodyTooLarge"
                  ? errorResponse(413, `the request body is larger than ${maxBodyBytes} bytes`, "body")
                  : errorResponse(400, "the request body could not be read", "body")
              )
          }
        }
        return Effect.logError("unhandled request failure", cause).pipe(
          Effect.as(errorResponse(500, "internal error"))
        )
      }),
      Effect.map((response) =>
        response.status >= 400 && !isJsonBody(response)
          ? response.status === 415
            ? errorResponse(415, "unsupported content type: send application/json", "content-type")
            : errorResponse(response.status, `request failed with status ${response.status}`)
          : response
      )
    ), { global: true })

// ---------------------------------------------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------------------------------------------

const notFound = (e: NotFound) =>
  ApiNotFound.of(e.message, e.entity === "task" ? "task_uuid" : e.entity === "step" ? "step_uuid" : undefined)

const conflict = (e: InvalidTransition | StaleState | OwnershipConflict) => ApiConflict.of(e.message)

/** A database failure is the server's problem: a defect, answered as a 500 by `RequestErrors`. */
const dbFailure = (e: SqlError.SqlError) => Effect.die(e)

/** Names the first coordinate that matches nothing stored: `namespace`, else `name`, else `version`. */
const templateNotFound = (e: TemplateNotFound, stored: ReadonlyArray<StoredTemplate>) => {
  const inNamespace = stored.filter((t) => t.namespace === e.namespace)
  const field = inNamespace.length === 0
    ? "namespace"
    : inNamespace.some((t) => t.name === e.name)
    ? "version"
    : "name"
  return ApiNotFound.of(e.message, field)
}

/**
 * A stored template whose step graph is broken (a cycle, an unknown dependency: `TemplateRegistry.resolve` refuses
 * it before anything is written) is a 409: the request is fine, the template is not, and no task can be created
 * from it until it is registered again. Any other defect stays a defect (a 500).
 */
const invalidStoredTemplate = (defect: unknown) =>
  defect instanceof InvalidTemplate
    ? Effect.fail(ApiConflict.of(`${defect.message} (register a fixed version of the template)`))
    : Effect.die(defect)

const invalidTaskRequest = (e: InvalidTaskRequest) =>
  e.field === "context" || e.field.startsWith("context.")
    ? ApiValidationError.of(e.message, e.field)
    : ApiBadRequest.of(e.message, e.field)

// ---------------------------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------------------------

const executionView = (c: TaskExecutionContext): ExecutionView => ({
  status: c.status,
  total_steps: c.total_steps,
  pending_steps: c.pending_steps,
  in_progress_steps: c.in_progress_steps,
  enqueued_steps: c.enqueued_steps,
  completed_steps: c.completed_steps,
  failed_steps: c.failed_steps,
  ready_steps: c.ready_steps,
  waiting_for_retry_steps: c.waiting_for_retry_steps,
  blocked_steps: c.blocked_steps,
  execution_status: c.execution_status,
  recommended_action: c.recommended_action,
  completion_percentage: c.completion_percentage,
  health_status: c.health_status
})

const stepView = (step: StepRow, readiness: StepReadinessStatus | undefined): StepView => ({
  step_uuid: step.step_uuid,
  task_uuid: step.task_uuid,
  name: step.name,
  current_state: step.current_state,
  attempts: step.attempts,
  max_attempts: step.max_attempts,
  retryable: step.retryable,
  results: step.results,
  inputs: step.inputs,
  dependencies_satisfied: readiness?.dependencies_satisfied ?? false,
  retry_eligible: readiness?.retry_eligible ?? false,
  ready_for_execution: readiness?.ready_for_execution ?? false,
  total_parents: readiness?.total_parents ?? 0,
  completed_parents: readiness?.completed_parents ?? 0,
  backoff_request_seconds: readiness?.backoff_request_seconds ?? null,
  last_failure_at: readiness?.last_failure_at ?? null,
  next_retry_at: readiness?.next_retry_at ?? null,
  last_attempted_at: step.last_attempted_at,
  completed_at: step.processed_at,
  created_at: step.created_at,
  updated_at: step.updated_at
})

const StepNames = Schema.Struct({ steps: Schema.Array(Schema.Struct({ name: Schema.String })) })
const decodeStepNames = Schema.decodeUnknownOption(StepNames)

const templateSummary = (t: StoredTemplate): TemplateSummary => ({
  namespace: t.namespace,
  name: t.name,
  version: t.version,
  description: t.description,
  step_names: Option.match(decodeStepNames(t.configuration), {
    onNone: () => [],
    onSome: (c) => c.steps.map((s) => s.name)
  }),
  created_at: t.created_at,
  updated_at: t.updated_at
})

/** The request fields given, without the keys the caller left out. */
const definedFields = <A extends object>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as never

// ---------------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------------

export const TasksHandlers = HttpApiBuilder.group(
  Api,
  "tasks",
  Effect.fn(function*(handlers) {
    const init = yield* TaskInitializer
    const registry = yield* TemplateRegistry
    const queries = yield* TaskQueries
    const ops = yield* TaskOperations
    const readiness = yield* ReadinessFunctions
    const listing = yield* TaskListing

    const getTask = (taskUuid: TaskUuid) =>
      queries.getTask(taskUuid).pipe(Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: dbFailure }))

    /** The task's steps with readiness (two queries); 404 for an unknown task. */
    const stepViews = (taskUuid: TaskUuid) =>
      Effect.all([queries.listSteps(taskUuid), readiness.stepReadinessStatus(taskUuid)], { concurrency: 2 }).pipe(
        Effect.map(([steps, statuses]) => {
          const byStep = new Map(statuses.map((s) => [s.workflow_step_uuid as string, s]))
          return steps.map((step) => stepView(step, byStep.get(step.step_uuid)))
        }),
        Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: dbFailure })
      )

    const stepOf = (taskUuid: TaskUuid, stepUuid: StepUuid) =>
      Effect.flatMap(stepViews(taskUuid), (steps) => {
        const step = steps.find((s) => s.step_uuid === stepUuid)
        return step === undefined
          ? Effect.fail(ApiNotFound.of(`step not found in task ${taskUuid}: ${stepUuid}`, "step_uuid"))
          : Effect.succeed(step)
      })

    return handlers.handleAll({
      create: Effect.fn("Api.tasks.create")(function*({ headers, payload }) {
        const correlationId = payload.correlation_id ?? headers[CORRELATION_HEADER]
        const request: TaskRequest = {
          namespace: payload.namespace,
          name: payload.name,
          version: payload.version,
          context: payload.context ?? {},
          ...definedFields({
            initiator: payload.initiator,
            source_system: payload.source_system,
            reason: payload.reason,
            tags: payload.tags,
            priority: payload.priority,
            correlation_id: correlationId,
            parent_correlation_id: payload.parent_correlation_id,
            idempotency_key: payload.idempotency_key
          })
        }
        const created = yield* init.createTask(request).pipe(Effect.catchTags({
          TemplateNotFound: (e) =>
            registry.listStored.pipe(
              Effect.catchTag("SqlError", dbFailure),
              Effect.flatMap((stored) => Effect.fail(templateNotFound(e, stored)))
            ),
          InvalidTaskRequest: (e) => Effect.fail(invalidTaskRequest(e)),
          SqlError: dbFailure
        }), Effect.catchDefect((defect) => invalidStoredTemplate(defect)))
        const task = yield* Effect.option(queries.getTask(created.task_uuid))
        const fields = {
          task_uuid: created.task_uuid,
          correlation_id: created.correlation_id,
          status: created.status,
          step_count: created.step_count,
          step_mapping: created.step_mapping,
          ...(Option.isSome(task) ? { created_at: task.value.created_at } : {})
        }
        return created.created ? { ...fields, created: true as const } : { ...fields, created: false as const }
      }),

      list: Effect.fn("Api.tasks.list")(function*({ query }) {
        const page = query.page ?? 1
        const perPage = query.per_page ?? DEFAULT_PER_PAGE
        const result = yield* listing.list({
          namespace: query.namespace,
          name: query.name,
          status: query.status,
          correlationId: query.correlation_id,
          parentCorrelationId: query.parent_correlation_id
        }, { page, perPage }).pipe(Effect.catchTag("SqlError", dbFailure))
        const totalPages = Math.ceil(result.totalCount / perPage)
        return {
          tasks: result.tasks,
          pagination: {
            page,
            per_page: perPage,
            total_count: result.totalCount,
            total_pages: totalPages,
            has_next: page < totalPages,
            has_previous: page > 1
          }
        }
      }),

      get: Effect.fn("Api.tasks.get")(function*({ params }) {
        const { execution, task } = yield* queries.getTaskWithContext(params.task_uuid).pipe(
          Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: dbFailure })
        )
        const steps = yield* stepViews(params.task_uuid)
        return { ...task, execution: executionView(execution), steps }
      }),

      cancel: Effect.fn("Api.tasks.cancel")(function*({ params }) {
        yield* ops.cancelTask(params.task_uuid, "cancelled through the API").pipe(Effect.catchTags({
          NotFound: (e) => Effect.fail(notFound(e)),
          InvalidTransition: (e) => Effect.fail(ApiConflict.of(`task ${params.task_uuid} is already ${e.from}`)),
          SqlError: dbFailure
        }))
        return yield* getTask(params.task_uuid)
      }),

      wait: Effect.fn("Api.tasks.wait")(function*({ params, query }) {
        const timeout = Duration.millis(query.timeout_ms ?? DEFAULT_WAIT_MS)
        return yield* queries.waitForCompletion(params.task_uuid, { timeout }).pipe(
          Effect.map((task) => ({ finished: true, task })),
          Effect.catchTags({
            WaitTimeout: () =>
              Effect.map(getTask(params.task_uuid), (task) => ({ finished: finishedTaskStates.has(task.status), task })),
            NotFound: (e) => Effect.fail(notFound(e)),
            SqlError: dbFailure
          })
        )
      }),

      listSteps: ({ params }) => stepViews(params.task_uuid),

      getStep: ({ params }) => stepOf(params.task_uuid, params.step_uuid),

      updateStep: Effect.fn("Api.tasks.updateStep")(function*({ params, payload }) {
        const { step_uuid, task_uuid } = params
        const action = payload.action === "resolve"
          ? ops.resolveStep(task_uuid, step_uuid, {
            resultData: payload.result_data,
            resolvedBy: payload.resolved_by,
            reason: payload.reason
          })
          : ops.retryStep(task_uuid, step_uuid)
        yield* action.pipe(Effect.catchTags({
          NotFound: (e) => Effect.fail(notFound(e)),
          InvalidTransition: (e) =>
            Effect.fail(ApiConflict.of(`step ${step_uuid} cannot be ${payload.action}d in state ${e.from}`, "action")),
          StaleState: (e) => Effect.fail(conflict(e)),
          OwnershipConflict: (e) => Effect.fail(conflict(e)),
          SqlError: dbFailure
        }))
        return yield* stepOf(task_uuid, step_uuid)
      })
    })
  })
)

export const TemplatesHandlers = HttpApiBuilder.group(
  Api,
  "templates",
  Effect.fn(function*(handlers) {
    const registry = yield* TemplateRegistry
    const stored = registry.listStored.pipe(Effect.catchTag("SqlError", dbFailure))

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

const ProcessorStatus = Schema.Struct({ running: Schema.Boolean, heartbeat_age_seconds: Schema.Number })

export const SystemHandlers = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function*(handlers) {
    const sql = yield* SqlClient.SqlClient
    const processor = yield* CurrentProcessor
    const settings = yield* EngineConfig

    const processorStatus = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: ProcessorStatus,
      execute: (uuid) =>
        sql`SELECT stopped_at IS NULL AS running,
                   extract(epoch FROM now() - last_heartbeat_at)::float8 AS heartbeat_age_seconds
            FROM tasker_processors WHERE processor_uuid = ${uuid}::uuid`
    })

    /** Runs a check with a deadline; any failure (or the deadline) marks it failed with a message. */
    const timed = (check: Effect.Effect<string | undefined, string>) =>
      Effect.gen(function*() {
        const started = Date.now()
        const outcome = yield* check.pipe(
          Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail("timed out after 2 s") }),
          Effect.result
        )
        const duration_ms = Date.now() - started
        return outcome._tag === "Success"
          ? { status: "ok" as const, duration_ms, ...(outcome.success === undefined ? {} : { message: outcome.success }) }
          : { status: "failed" as const, duration_ms, message: outcome.failure }
      })

    const database = sql`SELECT 1 AS ok`.pipe(
      Effect.as(undefined),
      Effect.mapError((e) => `database query failed: ${e.message}`)
    )
    const engine = processorStatus(processor.processorUuid).pipe(
      Effect.mapError((e) => `processor lookup failed: ${e.message}`),
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(`processor ${processor.processorUuid} is not registered`),
        onSome: (p) =>
          !p.running
            ? Effect.fail(`processor ${processor.processorUuid} is marked stopped`)
            : p.heartbeat_age_seconds > settings.staleAfterSeconds
            ? Effect.fail(`processor heartbeat is ${Math.round(p.heartbeat_age_seconds)} s old`)
            : Effect.succeed(`processor ${processor.processorUuid} (${processor.role})`)
      }))
    )

    return handlers.handleAll({
      health: () => Effect.sync(() => ({ status: "healthy" as const, timestamp: new Date() })),
      live: () => Effect.sync(() => ({ status: "alive" as const, timestamp: new Date() })),
      ready: Effect.fn("Api.system.ready")(function*() {
        const [db, eng] = yield* Effect.all([timed(database), timed(engine)], { concurrency: 2 })
        const checks: Record<string, ReadinessCheck> = { database: db, engine: eng }
        if (db.status === "ok" && eng.status === "ok") {
          return { status: "ready" as const, timestamp: new Date(), checks }
        }
        return yield* new ApiServiceUnavailable({
          error: { code: "SERVICE_UNAVAILABLE", message: "not ready" },
          checks
        })
      })
    })
  })
)

// ---------------------------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The API's routes on an `HttpRouter`: the endpoints, `/openapi.json`, `/docs` and the middlewares. Needs the
 * engine's services and a `SqlClient` (see the module docs).
 */
export const apiRoutesLayer = (options: Pick<ApiServerOptions, "token" | "maxBodyBytes"> = {}) => {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const handlers = Layer.mergeAll(
    TasksHandlers.pipe(Layer.provide(TaskListing.layer)),
    TemplatesHandlers,
    SystemHandlers
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(authorizationLayer(options.token), requestErrorsLayer(maxBodyBytes)))
  )
  return Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    // Prometheus text format of every metric (open, like the health probes)
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    errorShapeLayer(maxBodyBytes)
  )
}

/**
 * The API served over HTTP on `host:port` (NodeHttpServer). Exposes `HttpServer.HttpServer`, whose `address`
 * tells the port actually bound (useful with port 0).
 */
export const apiServerLayer = (options: ApiServerOptions = {}) =>
  HttpRouter.serve(apiRoutesLayer(options), {
    disableLogger: options.logRequests === false,
    // long enough that an over-long id is answered as an invalid UUID, not as an unknown route
    routerConfig: { maxParamLength: 8192 }
  }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        host: options.host ?? DEFAULT_API_HOST,
        port: options.port ?? DEFAULT_API_PORT
      })
    )
  )

/** `apiServerLayer` configured from the environment (`apiServerOptionsFromEnv`). */
export const ApiServerLayer = Layer.unwrap(Effect.map(apiServerOptionsFromEnv, apiServerLayer))
