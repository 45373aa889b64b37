/**
 * Handlers of the `tasks` group: create, list, read, cancel and wait for tasks; read, resolve and retry steps.
 * Every engine error is mapped by `ErrorMapping.ts`.
 */
import { Duration, Effect, Option, Semaphore } from "effect"
import type { SqlError } from "effect/sql"
import { TemplateHosting } from "../db/Processors.ts"
import { ReadinessFunctions } from "../db/SqlFunctions.ts"
import { noLiveWorker } from "../domain/TaskRecord.ts"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { type InvalidTaskRequest, type TaskCreated, TaskInitializer, type TaskRequest } from "../tasks/TaskInitializer.ts"
import { DashboardQueries } from "../tasks/Dashboard.ts"
import { TaskListing } from "../tasks/TaskListing.ts"
import { remoteParent } from "../telemetry/TraceContext.ts"
import { RESOLVABLE_STEP_STATES, TaskOperations } from "../tasks/TaskOperations.ts"
import { TaskQueries } from "../tasks/TaskQueries.ts"
import { type InvalidStoredTemplate, type TemplateNotFound, TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import { templateKey } from "../workflow/Workflow.ts"
import { HttpApiBuilder } from "effect/http-api"
import { MAX_PRIORITY_WITHOUT_ADMIN, mayUseNamespace, type Principal, principalHasScope } from "./Access.ts"
import { Api, CORRELATION_HEADER } from "./Api.ts"
import { currentActor, currentPrincipal } from "./Caller.ts"
import {
  conflict,
  invalidStoredTemplate,
  invalidTaskRequest,
  notFound,
  sqlFailure,
  templateNotFound
} from "./ErrorMapping.ts"
import { ApiConflict, ApiForbidden, ApiNotFound, ApiPayloadTooLarge } from "./Errors.ts"
import { type CreateTaskRequest, DEFAULT_WAIT_MS, finishedTaskStates, type StepAction } from "./Models.ts"
import { ApiLimits } from "./ServerOptions.ts"
import { executionView, paginationView, requestedPage, stepView } from "./Views.ts"

/** A create request as the engine takes it; `correlationId` is the request's (or its header's), if any. */
const taskRequest = (payload: CreateTaskRequest, correlationId: string | undefined): TaskRequest => ({
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
})

/** A created (or matched) task as the API answers it. */
const createdView = (created: TaskCreated) => {
  const fields = {
    task_uuid: created.task_uuid,
    correlation_id: created.correlation_id,
    status: created.status,
    step_count: created.step_count,
    step_mapping: created.step_mapping,
    created_at: created.created_at,
    ...(created.warnings.length === 0 ? {} : { warnings: created.warnings })
  }
  return created.created ? { ...fields, created: true as const } : { ...fields, created: false as const }
}

/** What a step became after an operator action, for the 409 when its state does not allow the action. */
const pastTense: Record<StepAction["action"], string> = { resolve: "resolved", retry: "retried" }

/**
 * A create request the caller may make: its namespace among the key's (else 403 naming `field`.namespace) and its
 * priority within 0..MAX_PRIORITY_WITHOUT_ADMIN unless the key is admin (else 403 naming the priority).
 */
const checkCreate = (principal: Principal, payload: CreateTaskRequest, prefix: string) => {
  if (!mayUseNamespace(principal, payload.namespace)) {
    return Effect.fail(ApiForbidden.of(
      `key ${principal.keyId} may not create tasks in namespace ${payload.namespace}`,
      `${prefix}namespace`
    ))
  }
  const priority = payload.priority
  if (
    priority !== undefined && !principalHasScope(principal, "admin") &&
    (priority < 0 || priority > MAX_PRIORITY_WITHOUT_ADMIN)
  ) {
    return Effect.fail(ApiForbidden.of(
      `priority ${priority} is outside 0..${MAX_PRIORITY_WITHOUT_ADMIN}: other priorities need the admin scope`,
      `${prefix}priority`
    ))
  }
  return Effect.void
}

/** A batch's 404 for its request at `index`: the field prefixed with the request's position. */
const inBatchField = (error: ApiNotFound, index: number) =>
  ApiNotFound.of(`tasks[${index}]: ${error.error.message}`, `tasks.${index}.${error.error.field ?? "name"}`)

/** The request fields given, without the keys the caller left out. */
const definedFields = <A extends object>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as never

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
    const dashboard = yield* DashboardQueries
    const hosting = yield* TemplateHosting
    const limits = yield* ApiLimits
    // Lists that carry contexts run one at a time per process: each moves up to the context budget through the
    // database and the process, so concurrent ones would only share the same CPU while crowding out every other
    // request (`/health` included). The others wait their turn without using anything.
    const contextLists = yield* Semaphore.make(1)

    /** A 413 naming `field` when a context is larger, as JSON text, than `maxContextBytes`. */
    const checkContextSize = (context: CreateTaskRequest["context"], field: string) => {
      if (context === undefined) return Effect.void
      const bytes = Buffer.byteLength(JSON.stringify(context))
      return bytes <= limits.maxContextBytes ? Effect.void : Effect.fail(ApiPayloadTooLarge.of(
        `${field} is ${bytes} bytes as JSON; the largest context accepted is ${limits.maxContextBytes} bytes ` +
          "(TASKER_API_MAX_CONTEXT_BYTES)",
        field
      ))
    }

    const getTask = (taskUuid: TaskUuid) =>
      queries.getTask(taskUuid).pipe(Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: sqlFailure }))

    /**
     * A key limited to namespaces sees tasks of other namespaces as missing: a 404 like an unknown task, so it
     * cannot learn which task ids exist elsewhere.
     */
    const visibleTask = (taskUuid: TaskUuid) =>
      Effect.gen(function*() {
        const principal = yield* currentPrincipal
        if (principal.namespaces === undefined) return
        const task = yield* getTask(taskUuid)
        if (!mayUseNamespace(principal, task.namespace)) {
          return yield* ApiNotFound.of(`task not found: ${taskUuid}`, "task_uuid")
        }
      })

    /** The task's steps with readiness (two queries); 404 for an unknown task. */
    const stepViews = (taskUuid: TaskUuid) =>
      Effect.all([queries.listSteps(taskUuid), readiness.stepReadinessStatus(taskUuid)], { concurrency: 2 }).pipe(
        Effect.map(([steps, statuses]) => {
          const byStep = new Map(statuses.map((s) => [s.workflow_step_uuid as string, s]))
          return steps.map((step) => stepView(step, byStep.get(step.step_uuid)))
        }),
        Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: sqlFailure })
      )

    const stepOf = (taskUuid: TaskUuid, stepUuid: StepUuid) =>
      Effect.flatMap(stepViews(taskUuid), (steps) => {
        const step = steps.find((s) => s.step_uuid === stepUuid)
        return step === undefined
          ? Effect.fail(ApiNotFound.of(`step not found in task ${taskUuid}: ${stepUuid}`, "step_uuid"))
          : Effect.succeed(step)
      })

    /**
     * The engine's creation failures as API errors. A template that does not exist names the coordinate that
     * matches nothing stored, prefixed in a `batch` with the position of the first request that names it.
     */
    const creationFailures = (batch?: ReadonlyArray<TaskRequest>) =>
    <A, R>(
      self: Effect.Effect<A, TemplateNotFound | InvalidTaskRequest | InvalidStoredTemplate | SqlError.SqlError, R>
    ) =>
      Effect.catchTags(self, {
        TemplateNotFound: (e) =>
          registry.listStored.pipe(
            Effect.catchTag("SqlError", sqlFailure),
            Effect.flatMap((stored) => {
              const error = templateNotFound(e, stored)
              const index = batch?.findIndex((r) => r.namespace === e.namespace && r.name === e.name && r.version === e.version)
              return Effect.fail(index === undefined || index < 0 ? error : inBatchField(error, index))
            })
          ),
        InvalidTaskRequest: (e) => Effect.fail(invalidTaskRequest(e)),
        InvalidStoredTemplate: (e) => Effect.fail(invalidStoredTemplate(e)),
        SqlError: sqlFailure
      })

    return handlers.handleAll({
      create: Effect.fn("Api.tasks.create")(function*({ headers, payload }) {
        yield* checkCreate(yield* currentPrincipal, payload, "")
        yield* checkContextSize(payload.context, "context")
        const request = taskRequest(payload, payload.correlation_id ?? headers[CORRELATION_HEADER])
        const created = yield* init.createTask(request).pipe(creationFailures())
        return createdView(created)
      }),

      createBatch: Effect.fn("Api.tasks.createBatch")(function*({ payload }) {
        const principal = yield* currentPrincipal
        yield* Effect.forEach(payload.tasks, (task, i) => checkCreate(principal, task, `tasks.${i}.`), { discard: true })
        yield* Effect.forEach(payload.tasks, (task, i) => checkContextSize(task.context, `tasks.${i}.context`), {
          discard: true
        })
        const requests = payload.tasks.map((task) => taskRequest(task, task.correlation_id))
        const created = yield* init.createTasks(requests).pipe(creationFailures(requests))
        return { tasks: created.map(createdView) }
      }),

      list: Effect.fn("Api.tasks.list")(function*({ query }) {
        const principal = yield* currentPrincipal
        if (query.namespace !== undefined && !mayUseNamespace(principal, query.namespace)) {
          return yield* ApiForbidden.of(`key ${principal.keyId} may not read namespace ${query.namespace}`, "namespace")
        }
        const requested = requestedPage(query)
        const result = yield* listing.list({
          namespace: query.namespace,
          namespaces: principal.namespaces,
          name: query.name,
          status: query.status,
          correlationId: query.correlation_id,
          parentCorrelationId: query.parent_correlation_id,
          createdAfter: query.created_after,
          createdBefore: query.created_before,
          tag: query.tag,
          q: query.q
        }, requested, { include: query.include === "context", budgetBytes: limits.listContextBudgetBytes }).pipe(
          query.include === "context" ? contextLists.withPermit : (effect) => effect,
          Effect.catchTag("SqlError", sqlFailure)
        )
        const pagination = paginationView(requested, result.totalCount)
        return {
          tasks: result.tasks,
          pagination: result.countCapped
            ? {
              ...pagination,
              // past the counted tasks, a full page may have more after it
              has_next: pagination.has_next || result.tasks.length === requested.perPage,
              total_count_capped: true
            }
            : pagination
        }
      }),

      get: Effect.fn("Api.tasks.get")(function*({ params }) {
        yield* visibleTask(params.task_uuid)
        const { execution, task } = yield* queries.getTaskWithContext(params.task_uuid).pipe(
          Effect.catchTags({ NotFound: (e) => Effect.fail(notFound(e)), SqlError: sqlFailure })
        )
        const steps = yield* stepViews(params.task_uuid)
        const unhosted = finishedTaskStates.has(task.status)
          ? false
          : yield* hosting.taskUnhosted(params.task_uuid).pipe(Effect.catchTag("SqlError", sqlFailure))
        const head = yield* dashboard.task(params.task_uuid).pipe(Effect.catchTag("SqlError", sqlFailure))
        const traceId = Option.flatMap(head, (h) => Option.map(remoteParent(h.trace_headers), (span) => span.traceId))
        const view = { ...task, execution: executionView(execution), steps, trace_id: Option.getOrNull(traceId) }
        return unhosted ? { ...view, warnings: [noLiveWorker(templateKey(task))] } : view
      }),

      cancel: Effect.fn("Api.tasks.cancel")(function*({ params }) {
        yield* visibleTask(params.task_uuid)
        const actor = yield* currentActor
        yield* ops.cancelTask(params.task_uuid, "cancelled through the API", actor).pipe(Effect.catchTags({
          NotFound: (e) => Effect.fail(notFound(e)),
          InvalidTransition: (e) => Effect.fail(ApiConflict.of(`task ${params.task_uuid} is already ${e.from}`)),
          SqlError: sqlFailure
        }))
        return yield* getTask(params.task_uuid)
      }),

      wait: Effect.fn("Api.tasks.wait")(function*({ params, query }) {
        yield* visibleTask(params.task_uuid)
        const timeout = Duration.millis(query.timeout_ms ?? DEFAULT_WAIT_MS)
        return yield* queries.waitForCompletion(params.task_uuid, { timeout }).pipe(
          Effect.map((task) => ({ finished: true, task })),
          Effect.catchTags({
            WaitTimeout: () =>
              Effect.map(getTask(params.task_uuid), (task) => ({ finished: finishedTaskStates.has(task.status), task })),
            NotFound: (e) => Effect.fail(notFound(e)),
            SqlError: sqlFailure
          })
        )
      }),

      listSteps: ({ params }) => Effect.andThen(visibleTask(params.task_uuid), stepViews(params.task_uuid)),

      getStep: ({ params }) => Effect.andThen(visibleTask(params.task_uuid), stepOf(params.task_uuid, params.step_uuid)),

      updateStep: Effect.fn("Api.tasks.updateStep")(function*({ params, payload }) {
        const { step_uuid, task_uuid } = params
        yield* visibleTask(task_uuid)
        const principal = yield* currentPrincipal
        const actor = yield* currentActor
        const force = payload.action === "resolve" && payload.force === true
        if (force && !principalHasScope(principal, "admin")) {
          return yield* ApiForbidden.of(`key ${principal.keyId} lacks the scope admin (needed by force: true)`, "force")
        }
        const action = payload.action === "resolve"
          ? ops.resolveStep(task_uuid, step_uuid, {
            resultData: payload.result_data,
            // who resolved it is the caller's key, whatever the body says
            resolvedBy: principal.keyId,
            reason: payload.reason,
            allowedFrom: force ? undefined : RESOLVABLE_STEP_STATES
          }, actor)
          : ops.retryStep(task_uuid, step_uuid, actor)
        yield* action.pipe(Effect.catchTags({
          NotFound: (e) => Effect.fail(notFound(e)),
          InvalidTransition: (e) =>
            Effect.fail(ApiConflict.of(
              `step ${step_uuid} cannot be ${pastTense[payload.action]} in state ${e.from}` +
                (payload.action === "resolve" && !force && e.machine === "step"
                  ? ` (resolve needs ${RESOLVABLE_STEP_STATES.join(" or ")}; force: true with the admin scope resolves any unfinished step)`
                  : ""),
              "action"
            )),
          StaleState: (e) => Effect.fail(conflict(e)),
          OwnershipConflict: (e) => Effect.fail(conflict(e)),
          SqlError: sqlFailure
        }))
        return yield* stepOf(task_uuid, step_uuid)
      })
    })
  })
)
