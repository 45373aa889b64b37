/**
 * The task initializer: validates a task request against its template (the context against the input schema),
 * derives the identity hash and correlation ID, and creates the task with its steps, edges and initial
 * transitions in one transaction that also enqueues the root steps (`tasker_create_task`).
 *
 * Identity hashes are unique: a request whose identity matches an existing task returns that task
 * (`created: false`) instead of creating a second one.
 *
 * A task whose template no live worker hosts is accepted, with a `no_live_worker` warning in its answer, a
 * `tasker.tasks.no_live_worker.total` count and a `WARN` log line (`TemplateHosting`, cached while a worker hosts
 * it).
 */
import { createHash } from "node:crypto"
import { Cause, Context, Deferred, Effect, Exit, Layer, Option, Predicate, Schema, SchemaIssue, type Tracer } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { findBadJson, unstorable } from "../domain/StorableJson.ts"
import { batchLoop } from "../internal/Batching.ts"
import { MAX_BATCH_SIZE, noLiveWorker, type TaskWarning } from "../domain/TaskRecord.ts"
import { CurrentProcessor, TemplateHosting } from "../db/Processors.ts"
import { finishedTaskStates, type TaskState } from "../domain/TaskStateMachine.ts"
import { type InvalidStoredTemplate, type TemplateNotFound, TemplateRegistry } from "../workflow/TemplateRegistry.ts"
import { type IdentityStrategy, templateKey } from "../workflow/Workflow.ts"
import { workerQueueName } from "../messaging/Channels.ts"
import { type HandoffHost, LocalHandoff } from "../messaging/LocalHandoff.ts"
import { Wakeups } from "../messaging/Wakeups.ts"
import { withCorrelation } from "../telemetry/Correlation.ts"
import { recordEnqueued, recordTaskOutcome } from "../telemetry/EngineMetrics.ts"
import * as Metrics from "../telemetry/Metrics.ts"
import { currentTraceHeaders } from "../telemetry/TraceContext.ts"
import { type CreatedTaskRow, type CreatedTaskWithClaims, EngineFunctions, type NewTask } from "../db/EngineFunctions.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

/** A request to run a workflow: which template, the task context (its input) and bookkeeping fields. */
export const TaskRequest = Schema.Struct({
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String,
  /** the task's input, a JSON object validated against the template's input schema */
  context: Schema.optionalKey(Schema.Json),
  initiator: Schema.optionalKey(Schema.NullOr(Schema.String)),
  source_system: Schema.optionalKey(Schema.NullOr(Schema.String)),
  reason: Schema.optionalKey(Schema.NullOr(Schema.String)),
  tags: Schema.optionalKey(Schema.Array(Schema.String)),
  priority: Schema.optionalKey(Schema.Int),
  /** defaults to a new UUIDv7 */
  correlation_id: Schema.optionalKey(Uuid),
  parent_correlation_id: Schema.optionalKey(Schema.NullOr(Uuid)),
  /** dedupe by this key instead of the template's identity strategy */
  idempotency_key: Schema.optionalKey(Schema.String),
  requested_at: Schema.optionalKey(Schema.Date)
})
export type TaskRequest = typeof TaskRequest.Type

export interface TaskCreated {
  readonly task_uuid: TaskUuid
  readonly correlation_id: string
  /** false when the request matched an existing task's identity */
  readonly created: boolean
  readonly status: TaskState
  readonly step_count: number
  readonly step_mapping: Readonly<Record<string, StepUuid>>
  readonly created_at: Date
  /**
   * What the caller should know about the accepted task: `no_live_worker` when no live worker hosts its template
   * (the task waits until one starts). Empty in the usual case.
   */
  readonly warnings: ReadonlyArray<TaskWarning>
}

/**
 * A task request refused before anything is written. `field` names the offending field (`context.even_number`;
 * `tasks.3.context.even_number` in a batch) and `message` starts with it, in one line
 * (`context.even_number: Expected an even number, got 7`).
 */
export class InvalidTaskRequest extends Schema.TaggedError<InvalidTaskRequest>()("InvalidTaskRequest", {
  /** the offending field, e.g. `context.even_number` */
  field: Schema.String,
  message: Schema.String
}) {}

const LIMITS = { initiator: 128, source_system: 128, reason: 128 } as const

/** JSON with object keys sorted, so equal contexts hash equally. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (Predicate.isObject(value)) {
    const record = value as Record<string, unknown>
    return `{${
      Object.keys(record).sort().filter((k) => record[k] !== undefined).map((k) =>
        `${JSON.stringify(k)}:${canonicalJson(record[k])}`
      ).join(",")
    }}`
  }
  return JSON.stringify(value)
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** The identity hash of a request under a strategy (a request's idempotency key always wins). */
export const identityHash = (
  strategy: IdentityStrategy,
  template: string,
  context: unknown,
  idempotencyKey: string | undefined
): string => {
  if (idempotencyKey !== undefined) return sha256(`${template}\ncaller:${idempotencyKey}`)
  switch (strategy) {
    case "strict":
      return sha256(`${template}\ncontext:${canonicalJson(context)}`)
    case "always_unique":
    case "caller_provided":
      return sha256(`${template}\nunique:${uuidv7()}`)
  }
}

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** The labels of a request for a template that does not exist: one series for all of them. */
const UNKNOWN_TEMPLATE = { task_type: "unknown", namespace: "unknown" } as const

/** The longest rendering of a refused value in a message (`got …`). */
const MAX_SHOWN = 80

/** The value at `path` inside `root`, if there is one. */
const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): { readonly value: unknown } | undefined => {
  let current: unknown = root
  for (const key of path) {
    if (!Predicate.isObjectOrArray(current) || !Object.hasOwn(current, key)) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return { value: current }
}

/**
 * A context refused by the input schema, naming the first issue's field as a dotted path under `context` and, in
 * one line, what was expected and the value sent: `context.even_number: Expected an even number, got 7`.
 */
const contextMismatch = (context: unknown) => (error: Schema.SchemaError): InvalidTaskRequest => {
  const issue = standardIssues(error.issue).issues[0]
  const keys = (issue?.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
  const field = ["context", ...keys.map(String)].join(".")
  const expected = (issue?.message ?? error.message).split("\n")[0]!
  const sent = valueAt(context, keys)
  if (sent === undefined || expected.includes(", got ")) return invalid(field, expected)
  const shown = JSON.stringify(sent.value) ?? String(sent.value)
  return invalid(field, `${expected}, got ${shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN)}…` : shown}`)
}

/** An `InvalidTaskRequest` whose message starts with its field (`tags: …`), so that it reads alone. */
const invalid = (field: string, reason: string) => new InvalidTaskRequest({ field, message: `${field}: ${reason}` })

/** A batch of task requests refused: the first bad one, with its field prefixed by its position (`tasks.3.context…`). */
const inBatch = (index: number) => (error: InvalidTaskRequest) =>
  new InvalidTaskRequest({ field: `tasks.${index}.${error.field}`, message: `tasks.${index}.${error.message}` })


/**
 * The most creations one batch of `createTask` calls takes: a longer transaction holds back the workers (nothing of
 * a batch runs before it commits) more than it saves.
 */
const CREATION_BATCH_SIZE = 100

/** A creation waiting for its batch (`TaskInitializer`'s creation batching). */
interface PendingCreation {
  readonly task: NewTask
  /** the creating request's span, linked from the batch's */
  readonly span: Tracer.AnySpan | undefined
  readonly done: Deferred.Deferred<CreatedTaskRow, SqlError.SqlError>
}

export class TaskInitializer extends Context.Service<TaskInitializer, {
  readonly createTask: (
    request: TaskRequest
  ) => Effect.Effect<TaskCreated, TemplateNotFound | InvalidStoredTemplate | InvalidTaskRequest | SqlError.SqlError>
  /**
   * Creates several tasks at once: every request is checked first (the first bad one fails the whole batch with
   * `InvalidTaskRequest`, its field prefixed with its position, `tasks.<i>.…`; nothing is written), then all are
   * created in one transaction with one insert per table. One result per request, in order; a request matching an
   * existing task (or an earlier request of the batch) by identity returns it with `created: false`. At most
   * `MAX_BATCH_SIZE` requests.
   */
  readonly createTasks: (
    requests: ReadonlyArray<TaskRequest>
  ) => Effect.Effect<
    ReadonlyArray<TaskCreated>,
    TemplateNotFound | InvalidStoredTemplate | InvalidTaskRequest | SqlError.SqlError
  >
}>()("tasker/tasks/TaskInitializer") {
  static readonly layer = Layer.effect(
    TaskInitializer,
    Effect.gen(function*() {
      const registry = yield* TemplateRegistry
      const engine = yield* EngineFunctions
      const wakeups = yield* Wakeups
      const sql = yield* SqlClient.SqlClient
      const processor = yield* CurrentProcessor
      const hosting = yield* TemplateHosting
      const handoff = yield* LocalHandoff

      /** A request checked against its template, in the form the creation functions take. */
      const prepare = Effect.fnUntraced(function*(request: TaskRequest, correlationId: string) {
        const template = yield* registry.resolve(request.namespace, request.name, request.version)
        const definition = template.definition
        const context = request.context ?? {}
        if (!Predicate.isObject(context) || Array.isArray(context)) {
          return yield* invalid("context", "must be a JSON object")
        }
        // what the database cannot store is refused here, naming its field, as the API does (StorableJson)
        const bad = findBadJson(context)
        if (bad !== undefined) return yield* invalid(["context", ...bad.path.map(String)].join("."), bad.message)
        for (const [i, tag] of (request.tags ?? []).entries()) {
          const problem = unstorable(tag)
          if (problem !== undefined) return yield* invalid(`tags.${i}`, problem)
        }
        if (definition.input !== undefined) {
          yield* Schema.decodeUnknownEffect(definition.input)(context).pipe(Effect.mapError(contextMismatch(context)))
        }
        for (const field of ["initiator", "source_system", "reason", "idempotency_key"] as const) {
          const value = request[field]
          if (typeof value !== "string") continue
          if (field !== "idempotency_key" && value.length > LIMITS[field]) {
            return yield* invalid(field, `longer than ${LIMITS[field]} characters`)
          }
          const problem = unstorable(value)
          if (problem !== undefined) return yield* invalid(field, problem)
        }
        if (definition.identityStrategy === "caller_provided" && request.idempotency_key === undefined) {
          return yield* invalid("idempotency_key", `required: ${template.key} uses the caller_provided identity strategy`)
        }
        const params: NewTask = {
          namedTaskUuid: template.namedTaskUuid,
          queue: workerQueueName(definition.namespace),
          identityHash: identityHash(definition.identityStrategy, templateKey(definition), context, request.idempotency_key),
          correlationId,
          parentCorrelationId: request.parent_correlation_id ?? null,
          context,
          tags: request.tags ?? [],
          priority: request.priority ?? 0,
          initiator: request.initiator ?? null,
          sourceSystem: request.source_system ?? null,
          reason: request.reason ?? null,
          requestedAt: request.requested_at ?? null,
          steps: template.stepSpecs
        }
        return { params, namespace: definition.namespace, key: template.key }
      })

      /**
       * Creates one task in a transaction of its own. With `handoff.host` (this process's worker, `LocalHandoff`), as
       * many of its roots as the worker has free slots for are claimed for it in that transaction and start once it
       * commits.
       */
      const createOne = (
        task: NewTask,
        handoff?: { readonly host: HandoffHost | undefined; readonly template: string }
      ): Effect.Effect<CreatedTaskWithClaims, SqlError.SqlError> => {
        const params = { ...task, processorUuid: processor.processorUuid, headers: task.headers ?? {} }
        const host = handoff?.host
        if (host === undefined) return engine.createTask(params)
        return Effect.uninterruptible(Effect.gen(function*() {
          const roots = task.steps.filter((s) => s.depends_on.length === 0).length
          const reserved = yield* host.reserve(task.queue, handoff!.template, roots)
          const row = yield* engine.createTask({
            ...params,
            handoffLimit: reserved,
            visibilityTimeoutSeconds: host.visibilityTimeoutSeconds
          }).pipe(Effect.onError(() => host.release(reserved)))
          yield* host.adopt(task.queue, row.claims, reserved)
          return row
        }))
      }
      /**
       * Creation batching. A creation goes out at once when no other creation of this process is in flight (with its
       * roots handed to this process's worker, `LocalHandoff`); the creations that come meanwhile wait for the next
       * batch: one `tasker_create_tasks` transaction for up to `CREATION_BATCH_SIZE` of them, one insert per table, each
       * task with its own trace context. So a task alone never waits, and a process creating many at once (a burst
       * of API requests, or a loop of `createTask` calls) commits many per transaction. A batch that fails is retried
       * one request at a time, so that a request the database refuses fails alone.
       */
      let inFlight = 0
      let pending: Array<PendingCreation> = []
      const flush = (batch: ReadonlyArray<PendingCreation>) => Effect.gen(function*() {
        const exit = yield* engine.createTasks({
          tasks: batch.map((p) => p.task),
          processorUuid: processor.processorUuid,
          headers: {}
        }).pipe(
          Effect.withSpan("TaskInitializer.createBatch", {
            root: true,
            attributes: { tasks: batch.length },
            links: batch.flatMap((p) => p.span === undefined ? [] : [{ span: p.span, attributes: {} }])
          }),
          Effect.exit
        )
        if (Exit.isSuccess(exit) && exit.value.length === batch.length) {
          yield* Effect.forEach(batch, (p, i) => Deferred.succeed(p.done, exit.value[i]!), { discard: true })
          return
        }
        yield* Effect.forEach(batch, (p) =>
          createOne(p.task).pipe(Effect.exit, Effect.flatMap((one) => Deferred.done(p.done, one))), { discard: true })
      }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
      const signal = yield* batchLoop({
        inFlight: 1,
        cut: () => {
          if (pending.length === 0) return undefined
          const batch = pending.slice(0, CREATION_BATCH_SIZE)
          pending = pending.slice(batch.length)
          inFlight++
          return batch
        },
        flush
      })
      // (shutting down: the creations still waiting are interrupted, not left waiting)
      yield* Effect.addFinalizer(() => Effect.forEach(pending, (p) => Deferred.interrupt(p.done), { discard: true }))
      /** Waits for the next batch to create `task`. */
      const inNextBatch = (task: NewTask) =>
        Effect.gen(function*() {
          const done = yield* Deferred.make<CreatedTaskRow, SqlError.SqlError>()
          const span = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
          pending.push({ task, span, done })
          yield* signal
          return yield* Deferred.await(done)
        })
      /** Whether a creation goes out alone now (counted in flight) or waits for the next batch. */
      const goesAlone = Effect.sync(() => {
        if (inFlight > 0 || pending.length > 0) return false
        inFlight++
        return true
      })
      const doneAlone = Effect.sync(() => inFlight--)

      /** Root steps the creation handed to this process's worker (none for a batch creation). */
      const claimedCount = (row: CreatedTaskRow | CreatedTaskWithClaims) => "claims" in row ? row.claims.length : 0

      /**
       * Wake-ups, metrics and logs of one created (or matched) task; its result. `durationMs` is its initialization
       * time (in a batch, its share: the batch's time divided by its size). `unhosted`: no live worker hosts its
       * template (`key`), which an unfinished task's answer says (`warnings`) and a created one's metric and log too.
       */
      const created = (
        request: TaskRequest,
        prepared: { readonly namespace: string; readonly key: string },
        row: CreatedTaskRow | CreatedTaskWithClaims,
        durationMs: number,
        unhosted: boolean
      ) =>
        Effect.gen(function*() {
          const namespace = prepared.namespace
          const labels = { task_type: request.name, namespace: request.namespace }
          const warnings = unhosted && !finishedTaskStates.has(row.task_state) ? [noLiveWorker(prepared.key)] : []
          if (row.created) {
            // a worker in this process starts as soon as the task is committed (the caller may hold a transaction),
            // without waiting for the NOTIFY, which is marked as ours and skipped when it comes back
            // (roots handed to this process's worker started already: only those left on the queue need it)
            if (row.enqueued_count > claimedCount(row)) yield* sql.afterCommit(wakeups.signal(workerQueueName(namespace)))
            yield* Metrics.observeMs(Metrics.taskInitializationDuration, { task_type: request.name }, durationMs)
            yield* recordEnqueued(namespace, workerQueueName(namespace), row.enqueued_count)
            // (a task without steps is complete at once)
            yield* recordTaskOutcome(row.task_state, labels)
            yield* Effect.logInfo("Task created", { task_uuid: row.task_uuid, namespace: request.namespace, name: request.name, steps: Object.keys(row.step_mapping).length })
            if (warnings.length > 0) {
              yield* Metrics.increment(Metrics.tasksWithoutLiveWorker, labels)
              yield* Effect.logWarning("No live worker hosts the task's template: the task waits until one starts", {
                task_uuid: row.task_uuid,
                template: prepared.key
              })
            }
          } else {
            yield* Effect.logInfo("Task request matched an existing task", { task_uuid: row.task_uuid })
          }
          return {
            task_uuid: row.task_uuid,
            correlation_id: row.correlation_id,
            created: row.created,
            status: row.task_state,
            step_count: Object.keys(row.step_mapping).length,
            step_mapping: row.step_mapping,
            created_at: row.created_at,
            warnings
          } satisfies TaskCreated
        })

      /**
       * Counts a request (`tasker.tasks.requests.total`) once its template is looked up: labelled with the template's
       * namespace and name when it exists, with `unknown` when it does not, so that requests naming made-up
       * templates (anyone can send them) cannot create a series each.
       */
      const countRequest = (request: TaskRequest) => <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
        self.pipe(Effect.onExit((exit) => {
          const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
          const unknown = Option.isSome(error) && error.value._tag === "TemplateNotFound"
          return Metrics.increment(
            Metrics.taskRequests,
            unknown ? UNKNOWN_TEMPLATE : { task_type: request.name, namespace: request.namespace }
          )
        }))

      const initialize = Effect.fn("TaskInitializer.createTask")(function*(request: TaskRequest, correlationId: string) {
        const started = performance.now()
        yield* Effect.annotateCurrentSpan({ task_type: request.name, namespace: request.namespace })
        const prepared = yield* prepare(request, correlationId).pipe(countRequest(request))
        const { params } = prepared
        // the root steps' messages carry this span, so the workers' spans join the request's trace
        const task: NewTask = { ...params, headers: yield* currentTraceHeaders }
        // inside a caller's transaction: alone, its roots enqueued (this call does not see the transaction's end)
        const inTransaction = Option.isSome(yield* Effect.serviceOption(sql.transactionService))
        const row = inTransaction
          ? yield* createOne(task)
          : (yield* goesAlone)
          ? yield* createOne(task, { host: handoff.host(), template: prepared.key }).pipe(Effect.ensuring(doneAlone))
          : yield* inNextBatch(task)
        yield* Effect.annotateCurrentSpan({ task_uuid: row.task_uuid, created: row.created })
        const durationMs = performance.now() - started
        // (cached: no query while a live worker is known to host the template)
        const unhosted = finishedTaskStates.has(row.task_state)
          ? false
          : (yield* hosting.unhosted([params.namedTaskUuid])).size > 0
        return yield* created(request, prepared, row, durationMs, unhosted)
      })

      // the request's correlation (or a new UUIDv7) is the region's correlation: logs, spans, metrics
      const inCorrelation = (request: TaskRequest, correlationId: string) =>
        withCorrelation({ correlationId, parentCorrelationId: request.parent_correlation_id ?? null })

      const createTask = (request: TaskRequest) => {
        const correlationId = request.correlation_id ?? uuidv7()
        return initialize(request, correlationId).pipe(inCorrelation(request, correlationId))
      }

      const createTasks = Effect.fn("TaskInitializer.createTasks")(function*(requests: ReadonlyArray<TaskRequest>) {
        if (requests.length > MAX_BATCH_SIZE) {
          return yield* invalid("tasks", `at most ${MAX_BATCH_SIZE} tasks in one batch, got ${requests.length}`)
        }
        yield* Effect.annotateCurrentSpan({ tasks: requests.length })
        const started = performance.now()
        const correlations = requests.map((r) => r.correlation_id ?? uuidv7())
        const prepared = yield* Effect.forEach(requests, (request, i) =>
          Effect.gen(function*() {
            return yield* prepare(request, correlations[i]!).pipe(countRequest(request), Effect.mapError((e) =>
              e._tag === "InvalidTaskRequest" ? inBatch(i)(e) : e
            ))
          }).pipe(inCorrelation(request, correlations[i]!)))
        if (prepared.length === 0) return []
        const rows = yield* engine.createTasks({
          tasks: prepared.map((p) => p.params),
          processorUuid: processor.processorUuid,
          headers: yield* currentTraceHeaders
        })
        if (rows.length !== requests.length) {
          return yield* Effect.die(new Error(`tasker_create_tasks returned ${rows.length} rows for ${requests.length} requests`))
        }
        const shareMs = (performance.now() - started) / rows.length
        const unhosted = yield* hosting.unhosted(prepared.map((p) => p.params.namedTaskUuid))
        return yield* Effect.forEach(rows, (row, i) =>
          created(requests[i]!, prepared[i]!, row, shareMs, unhosted.has(prepared[i]!.params.namedTaskUuid)).pipe(
            inCorrelation(requests[i]!, row.correlation_id)
          ))
      })

      return TaskInitializer.of({ createTask, createTasks })
    })
  )
}

