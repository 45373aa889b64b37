/**
 * Handlers of the `dashboard` group (issue 15): the overview, a task's DAG, timeline and audit trail, dead letters
 * (list, re-drive, discard), one template version, the UI's configuration and the server-sent event stream.
 * Queries live in `src/tasks/Dashboard.ts`, the timeline's shaping in `src/tasks/Timeline.ts`, the event stream's
 * shared reader in `EventHub.ts`.
 */
import { Effect, Option, Schedule, Stream, Struct } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import type { SqlError } from "effect/sql"
import { AuditTrail } from "../db/AuditTrail.ts"
import type { TaskUuid } from "../domain/Ids.ts"
import { DashboardQueries, type DagStepRow, type TaskHead } from "../tasks/Dashboard.ts"
import { actorOf, segments } from "../tasks/Timeline.ts"
import { Api, LAST_EVENT_ID_HEADER } from "./Api.ts"
import { isAnonymous } from "./Access.ts"
import { currentActor, currentPrincipal } from "./Caller.ts"
import { sqlFailure } from "./ErrorMapping.ts"
import { ApiBadRequest, ApiConflict, ApiNotFound } from "./Errors.ts"
import { eventIdTime, EventHub, type HubEvent } from "./EventHub.ts"
import { EventStreamSettings, UiSettings } from "./ServerOptions.ts"
import { paginationView, requestedPage } from "./Views.ts"

const sseEvent = (e: HubEvent): string => {
  const r = e.row
  const data = r.kind === "task"
    ? { task_uuid: r.task_uuid, state: r.to_state, at: r.at.toISOString() }
    : { task_uuid: r.task_uuid, step_uuid: r.step_uuid, name: r.step_name, state: r.to_state, at: r.at.toISOString() }
  return `id: ${e.id}\nevent: ${r.kind}\ndata: ${JSON.stringify(data)}\n\n`
}

/** A query's database failure as the API's 503 (transient) or 500 (`ErrorMapping.ts`). */
const answered = <A, R>(self: Effect.Effect<A, SqlError.SqlError, R>) => Effect.catchTag(self, "SqlError", sqlFailure)

const durationMs = (from: Date | null, to: Date | null) =>
  from === null || to === null ? null : Math.max(0, to.getTime() - from.getTime())

export const DashboardHandlers = HttpApiBuilder.group(
  Api,
  "dashboard",
  Effect.fn(function*(handlers) {
    const queries = yield* DashboardQueries
    const hub = yield* EventHub
    const ui = yield* UiSettings
    // a comment line sent every heartbeatMs, so proxies and clients see a live connection
    const { heartbeatMs } = yield* EventStreamSettings
    const audit = yield* AuditTrail

    /** The task's row, or a 404 naming it. */
    const taskHead = (taskUuid: TaskUuid) =>
      queries.task(taskUuid).pipe(
        answered,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(ApiNotFound.of(`task not found: ${taskUuid}`, "task_uuid")),
          onSome: (head: TaskHead) => Effect.succeed(head)
        }))
      )

    /** What `read` reads of a task, after a 404 naming the task when there is none. */
    const ofTask = <A, R>(taskUuid: TaskUuid, read: Effect.Effect<A, SqlError.SqlError, R>) =>
      Effect.andThen(taskHead(taskUuid), answered(read))

    return handlers.handleAll({
      overview: Effect.fn("Api.dashboard.overview")(function*() {
        const o = yield* queries.overview.pipe(answered)
        return {
          generated_at: o.generatedAt,
          tasks_by_state: o.tasksByState,
          tasks_per_minute: o.tasksPerMinute,
          steps: o.steps,
          queues: o.queues,
          processors: o.processors
        }
      }),

      dag: Effect.fn("Api.dashboard.dag")(function*({ params }) {
        const { edges, steps } = yield* ofTask(params.task_uuid, queries.dag(params.task_uuid))
        return {
          task_uuid: params.task_uuid,
          steps: steps.map((step) => ({
            ...Struct.omit(step, ["created_at"]),
            duration_ms: durationMs(step.started_at, step.finished_at)
          })),
          edges
        }
      }),

      timeline: Effect.fn("Api.dashboard.timeline")(function*({ params }) {
        const head = yield* taskHead(params.task_uuid)
        const [{ edges, steps }, transitions] = yield* Effect.all([
          queries.dag(params.task_uuid),
          queries.transitions(params.task_uuid)
        ], { concurrency: 2 }).pipe(answered)
        // when each step first satisfied its dependents (complete or resolved manually)
        const satisfiedAt = new Map<string, Date>()
        for (const t of transitions) {
          if (t.kind === "step" && (t.to_state === "complete" || t.to_state === "resolved_manually") &&
            !satisfiedAt.has(t.step_uuid!)) satisfiedAt.set(t.step_uuid!, t.at)
        }
        /** When the step's last dependency finished: its creation for a root, null while one has not. */
        const readyAt = (step: DagStepRow): Date | null => {
          let ready = step.created_at
          for (const edge of edges) {
            if (edge.to !== step.step_uuid) continue
            const at = satisfiedAt.get(edge.from)
            if (at === undefined) return null
            if (at.getTime() > ready.getTime()) ready = at
          }
          return ready
        }
        return {
          task_uuid: params.task_uuid,
          created_at: head.created_at,
          finished_at: head.completed_at,
          steps: steps.map((s) => ({
            step_uuid: s.step_uuid,
            name: s.name,
            state: s.state,
            segments: segments(
              s.created_at,
              transitions.filter((t) => t.kind === "step" && t.step_uuid === s.step_uuid),
              readyAt(s)
            )
          }))
        }
      }),

      transitions: Effect.fn("Api.dashboard.transitions")(function*({ params }) {
        const rows = yield* ofTask(params.task_uuid, queries.transitions(params.task_uuid))
        return {
          task_uuid: params.task_uuid,
          // the row without its task (the answer's), its position and its time in µs (the event stream's)
          transitions: rows.map((row) => ({
            ...Struct.omit(row, ["task_uuid", "sort_key", "at_us"]),
            actor: actorOf(row.metadata, row.processor_uuid)
          }))
        }
      }),

      deadLetters: Effect.fn("Api.dashboard.deadLetters")(function*({ query }) {
        const requested = requestedPage(query)
        const { rows, total } = yield* queries.deadLetters(query.queue, { limit: requested.perPage, offset: requested.offset })
          .pipe(answered)
        return {
          dead_letters: rows.map((r) => ({ ...r, msg_id: Number(r.msg_id) })),
          pagination: paginationView(requested, total)
        }
      }),

      redrive: Effect.fn("Api.dashboard.redrive")(function*({ params }) {
        const sent = yield* queries.redrive(params.queue, BigInt(params.msg_id)).pipe(answered)
        if (Option.isNone(sent)) {
          return yield* ApiNotFound.of(`dead letter not found: ${params.queue}/${params.msg_id}`, "msg_id")
        }
        // an operator action: recorded with the caller's key id, address and correlation (GET /v1/audit)
        yield* audit.record({
          action: "dead_letter.redrive",
          actor: yield* currentActor,
          details: { queue: params.queue, msg_id: params.msg_id, new_msg_id: Number(sent.value) }
        }).pipe(answered)
        return { queue: params.queue, msg_id: Number(sent.value), redriven_from: params.msg_id }
      }),

      discard: Effect.fn("Api.dashboard.discard")(function*({ params }) {
        const deleted = yield* queries.discard(params.queue, BigInt(params.msg_id)).pipe(answered)
        if (!deleted) return yield* ApiNotFound.of(`dead letter not found: ${params.queue}/${params.msg_id}`, "msg_id")
        yield* audit.record({
          action: "dead_letter.discard",
          actor: yield* currentActor,
          details: { queue: params.queue, msg_id: params.msg_id }
        }).pipe(answered)
        return { queue: params.queue, msg_id: params.msg_id, discarded: true as const }
      }),

      template: Effect.fn("Api.dashboard.template")(function*({ params }) {
        const found = yield* queries.template(params.namespace, params.name, params.version).pipe(
          answered
        )
        if (Option.isNone(found)) {
          return yield* ApiNotFound.of(`template not found: ${params.namespace}/${params.name}@${params.version}`, "version")
        }
        const t = found.value
        if (t.steps === null) {
          return yield* ApiConflict.of(`the stored configuration of ${t.namespace}/${t.name}@${t.version} is not a valid template`)
        }
        return {
          namespace: t.namespace,
          name: t.name,
          version: t.version,
          description: t.description,
          steps: t.steps.map((s) => ({
            name: s.name,
            description: s.description,
            depends_on: s.dependsOn,
            retryable: s.retryable,
            max_attempts: s.maxAttempts,
            backoff: s.backoff,
            backoff_base_ms: s.backoffBaseMs,
            max_backoff_ms: s.maxBackoffMs,
            timeout_seconds: s.timeoutSeconds
          })),
          edges: t.steps.flatMap((s) => s.dependsOn.map((from) => ({ from, to: s.name }))),
          input_schema: t.inputSchema,
          task_count: t.taskCount,
          created_at: t.createdAt,
          updated_at: t.updatedAt
        }
      }),

      // authentication is on when the server has a token or the database an API key (AccessLayer.ts): then the
      // caller came in with a credential
      uiConfig: () =>
        Effect.map(currentPrincipal, (caller) => ({
          trace_url_template: ui.traceUrlTemplate,
          auth_required: !isAnonymous(caller)
        })),

      events: Effect.fn("Api.dashboard.events")(function*({ headers, query }) {
        if (query.task_uuid !== undefined) yield* taskHead(query.task_uuid)
        const lastEventId = headers[LAST_EVENT_ID_HEADER]
        const sinceUs = lastEventId === undefined ? undefined : eventIdTime(lastEventId)
        if (sinceUs !== undefined && Option.isNone(sinceUs)) {
          return yield* ApiBadRequest.of("Last-Event-ID is not an event id of this stream", LAST_EVENT_ID_HEADER)
        }
        const events = Stream.unwrap(
          Effect.map(
            hub.subscribe({
              taskUuid: query.task_uuid,
              sinceUs: sinceUs === undefined ? undefined : Option.getOrUndefined(sinceUs),
              lastEventId
            }),
            (stream) => Stream.map(stream, sseEvent)
          )
        )
        const heartbeats = Stream.fromSchedule(Schedule.spaced(heartbeatMs)).pipe(Stream.map(() => ": heartbeat\n\n"))
        const body = Stream.concat(
          // tells the client how soon to reconnect and how often to expect a heartbeat (the dashboard takes a
          // silence of three for a dead connection), and shows the connection is open at once
          Stream.make(`retry: 2000\n: connected\n: heartbeat every ${heartbeatMs} ms\n\n`),
          Stream.merge(events, heartbeats)
        )
        return HttpServerResponse.stream(Stream.encodeText(body), {
          contentType: "text/event-stream",
          // no-transform: never compressed (a compressed stream would be buffered)
          headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
        })
      })
    })
  })
)
