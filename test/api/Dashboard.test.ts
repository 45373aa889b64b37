/**
 * The dashboard's endpoints (issue 15) end to end: the real engine and API server on a fresh database, requests
 * over loopback HTTP. Overview counts against the database (a running step counted for its processor), a task's DAG, the timeline of a retried step, the audit
 * trail with its actors, dead letters made the way the engine makes them (list, re-drive, discard), the new task
 * list filters, one template version, the UI configuration, the trace id on task detail, and 404s.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { v7 as uuidv7 } from "uuid"
import { apiServerOptionsFromEnv } from "../../src/api/ServerOptions.ts"
import { TaskerClient } from "../../src/client/Client.ts"
import { TaskStates } from "../../src/domain/TaskStateMachine.ts"
import { RESULTS_QUEUE } from "../../src/messaging/Channels.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { gatedWorkflow, newGate } from "../support/Templates.ts"
import { apiTestLayer, assertError, request } from "./Support.ts"

const NS = "dash_test"

/** Attempts of a `flaky` step so far, by task. */
const flakyAttempts = new Map<string, number>()

/** first → flaky (fails retryably on its first attempt, 50 ms backoff) → last. */
const Retried = Workflow.make({ namespace: NS, name: "retried", version: "1.0.0", identityStrategy: "always_unique" })
  .step("first", { run: () => Effect.succeed(1) })
  .step("flaky", {
    dependsOn: ["first"],
    retry: { maxAttempts: 3, backoff: "linear", backoffBaseMs: 50 },
    run: (ctx) => {
      flakyAttempts.set(ctx.taskUuid, ctx.attempt)
      return ctx.attempt === 1 ? Effect.fail(StepError.retryable("not yet")) : Effect.succeed("ok")
    }
  })
  .step("last", { dependsOn: ["flaky"], run: () => Effect.succeed(3) })

/** One step that fails permanently (an operator resolves it). */
const Broken = Workflow.make({ namespace: NS, name: "broken", version: "1.0.0", identityStrategy: "always_unique" })
  .step("only", { run: () => Effect.fail(StepError.permanent("broken input", { code: "VALIDATION_ERROR" })) })
  .step("after", { dependsOn: ["only"], run: () => Effect.succeed("after") })

/** wait (held at its task's gate while a test looks at it running) → after. */
const Gated = gatedWorkflow(NS)

const RETRIED = { namespace: NS, name: "retried", version: "1.0.0" } as const
const GATED = { namespace: NS, name: "gated", version: "1.0.0" } as const
const BROKEN = { namespace: NS, name: "broken", version: "1.0.0" } as const
const TRACE_URL = "https://jaeger.example/trace/{traceId}"

const createAndWait = (template: { namespace: string; name: string; version: string }, extra: { tags?: Array<string> } = {}) =>
  Effect.gen(function*() {
    const client = yield* TaskerClient
    const created = yield* client.createTask({ ...template, context: {}, ...extra })
    yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
    return created
  })

const sql = Effect.map(SqlClient.SqlClient, (s) => s)

layer(
  apiTestLayer({ traceUrl: TRACE_URL }, {}, { templates: [Retried, Broken, Gated] }),
  { excludeTestServices: true, timeout: "120 seconds" }
)("dashboard API", (it) => {
  describe("overview", () => {
    it.effect("counts tasks by state, per minute, steps, queues and processors as the database has them", () =>
      Effect.gen(function*() {
        yield* createAndWait(RETRIED)
        yield* createAndWait(BROKEN)
        const db = yield* sql
        const response = yield* request("GET", "/v1/overview")
        assert.strictEqual(response.status, 200, response.text)
        const o = response.json

        const byState = yield* db<{ state: string; n: number }>`
          SELECT current_state AS state, count(*)::int AS n FROM tasker_tasks GROUP BY 1`
        const expected = Object.fromEntries(TaskStates.map((s) => [s, 0]))
        for (const row of byState) expected[row.state] = row.n
        assert.deepStrictEqual(o.tasks_by_state, expected)

        assert.strictEqual(o.tasks_per_minute.length, 60)
        const minutes = o.tasks_per_minute.map((m: { minute: string }) => Date.parse(m.minute))
        for (let i = 1; i < 60; i++) assert.strictEqual(minutes[i] - minutes[i - 1], 60_000)
        const [counts] = yield* db<{ created: number; completed: number; failed: number }>`
          SELECT count(*)::int AS created,
                 count(*) FILTER (WHERE current_state = 'complete')::int AS completed,
                 count(*) FILTER (WHERE current_state = 'error')::int AS failed
          FROM tasker_tasks WHERE created_at >= date_trunc('minute', now()) - interval '59 minutes'`
        const sum = (key: string) => o.tasks_per_minute.reduce((n: number, m: Record<string, number>) => n + m[key]!, 0)
        assert.strictEqual(sum("created"), counts!.created)
        assert.strictEqual(sum("completed"), counts!.completed)
        assert.strictEqual(sum("failed"), counts!.failed)
        assert.isAbove(counts!.completed, 0)

        // the retried task's flaky step failed once and every step succeeded once: at least 3 + 1 attempts
        assert.isAtLeast(o.steps.completed_last_hour, 3)
        assert.isAtLeast(o.steps.failed_last_hour, 2)
        assert.isNumber(o.steps.p50_ms)
        assert.isAtLeast(o.steps.p95_ms, o.steps.p50_ms)

        const queues = yield* db<{ queue: string; dead: number; depth: number }>`
          SELECT q.queue_name AS queue,
                 (SELECT count(*)::int FROM tasker_queue_archive a WHERE a.queue_name = q.queue_name AND a.dead_letter) AS dead,
                 (SELECT count(*)::int FROM tasker_queue_messages m WHERE m.queue_name = q.queue_name) AS depth
          FROM tasker_queues q ORDER BY 1`
        assert.deepStrictEqual(
          o.queues.map((q: { queue: string; dead_letters: number }) => [q.queue, q.dead_letters]),
          queues.map((q) => [q.queue, q.dead])
        )
        assert.include(o.queues.map((q: { queue: string }) => q.queue), RESULTS_QUEUE)

        const live = yield* db<{ processor_uuid: string; role: string }>`
          SELECT processor_uuid::text, role FROM tasker_processors WHERE stopped_at IS NULL ORDER BY role`
        assert.sameMembers(o.processors.map((p: { processor_uuid: string }) => p.processor_uuid), live.map((p) => p.processor_uuid))
        for (const p of o.processors) {
          assert.isAtLeast(p.heartbeat_age_seconds, 0)
          assert.isString(p.role)
          assert.strictEqual(p.running_steps, 0)
        }
      }))

    it.effect("counts a running step for the processor that claimed it, until it finishes", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const { context, gate } = yield* newGate
        const created = yield* client.createTask({ ...GATED, context })
        const db = yield* sql
        const stepUuid = created.step_mapping.wait!
        // running: in progress, claimed by this process's worker
        const claimer = yield* Effect.gen(function*() {
          const [row] = yield* db<{ state: string; processor_uuid: string | null }>`
            SELECT ws.current_state AS state,
                   (SELECT st.processor_uuid::text FROM tasker_workflow_step_transitions st
                    WHERE st.workflow_step_uuid = ws.workflow_step_uuid ORDER BY st.sort_key DESC LIMIT 1) AS processor_uuid
            FROM tasker_workflow_steps ws WHERE ws.workflow_step_uuid = ${stepUuid}`
          return row?.state === "in_progress" ? row.processor_uuid! : yield* Effect.fail("not running yet")
        }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 }))
        const running = (o: { processors: ReadonlyArray<{ processor_uuid: string; running_steps: number }> }) =>
          Object.fromEntries(o.processors.map((p) => [p.processor_uuid, p.running_steps]))
        const during = yield* request("GET", "/v1/overview")
        assert.deepInclude(running(during.json), { [claimer]: 1 })
        assert.strictEqual(Object.values(running(during.json)).reduce((a, b) => a + b, 0), 1)
        yield* Deferred.succeed(gate, undefined)
        yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
        const after = yield* request("GET", "/v1/overview")
        assert.deepInclude(running(after.json), { [claimer]: 0 })
      }))
  })

  describe("a task's DAG, timeline and audit trail", () => {
    it.effect("the DAG has every step with its attempts and duration, and the template's edges", () =>
      Effect.gen(function*() {
        const created = yield* createAndWait(RETRIED)
        const response = yield* request("GET", `/v1/tasks/${created.task_uuid}/dag`)
        assert.strictEqual(response.status, 200, response.text)
        const dag = response.json
        assert.strictEqual(dag.task_uuid, created.task_uuid)
        const byName = new Map<string, any>(dag.steps.map((s: { name: string }) => [s.name, s]))
        assert.sameMembers([...byName.keys()], ["first", "flaky", "last"])
        assert.strictEqual(byName.get("flaky").attempts, 2)
        assert.strictEqual(byName.get("flaky").max_attempts, 3)
        for (const step of byName.values()) {
          assert.strictEqual(step.state, "complete")
          assert.strictEqual(step.step_uuid, created.step_mapping[step.name])
          assert.isString(step.started_at)
          assert.strictEqual(step.duration_ms, Date.parse(step.finished_at) - Date.parse(step.started_at))
        }
        assert.sameDeepMembers(dag.edges, [
          { from: created.step_mapping.first, to: created.step_mapping.flaky },
          { from: created.step_mapping.flaky, to: created.step_mapping.last }
        ])
      }))

    it.effect("the timeline of a retried step: waiting, queued, running, backoff, queued, running", () =>
      Effect.gen(function*() {
        const created = yield* createAndWait(RETRIED)
        assert.strictEqual(flakyAttempts.get(created.task_uuid), 2)
        const response = yield* request("GET", `/v1/tasks/${created.task_uuid}/timeline`)
        assert.strictEqual(response.status, 200, response.text)
        const timeline = response.json
        assert.isString(timeline.finished_at)
        const flaky = timeline.steps.find((s: { name: string }) => s.name === "flaky")
        assert.deepStrictEqual(
          flaky.segments.map((s: { phase: string; attempt: number }) => `${s.phase}:${s.attempt}`),
          ["waiting:1", "queued:1", "running:1", "backoff:1", "queued:2", "running:2"]
        )
        // contiguous, in order, and closed: the step finished
        const segments = flaky.segments as ReadonlyArray<{ start: string; end: string | null }>
        for (let i = 1; i < segments.length; i++) assert.strictEqual(segments[i]!.start, segments[i - 1]!.end)
        for (const s of segments) assert.isAtMost(Date.parse(s.start), Date.parse(s.end!))
        // the backoff lasted at least the template's 50 ms
        const backoff = flaky.segments[3]
        assert.isAtLeast(Date.parse(backoff.end) - Date.parse(backoff.start), 40)
        const first = timeline.steps.find((s: { name: string }) => s.name === "first")
        // a root is ready from its creation: it never waits
        assert.deepStrictEqual(first.segments.map((s: { phase: string }) => s.phase), ["queued", "running"])
      }))

    it.effect("the audit trail lists task and step transitions oldest first, with who made them", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const created = yield* createAndWait(BROKEN)
        yield* client.resolveStep(created.task_uuid, created.step_mapping.only!, {
          resultData: { fixed: true },
          resolvedBy: "alice@example.com",
          reason: "input corrected by hand"
        })
        yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
        const response = yield* request("GET", `/v1/tasks/${created.task_uuid}/transitions`)
        assert.strictEqual(response.status, 200, response.text)
        const transitions = response.json.transitions as ReadonlyArray<any>
        const times = transitions.map((t) => Date.parse(t.at))
        assert.deepStrictEqual(times, [...times].sort((a, b) => a - b))

        const db = yield* sql
        const [counts] = yield* db<{ task: number; step: number }>`
          SELECT (SELECT count(*)::int FROM tasker_task_transitions WHERE task_uuid = ${created.task_uuid}) AS task,
                 (SELECT count(*)::int FROM tasker_workflow_step_transitions st
                  JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = st.workflow_step_uuid
                  WHERE ws.task_uuid = ${created.task_uuid}) AS step`
        assert.strictEqual(transitions.filter((t) => t.kind === "task").length, counts!.task)
        assert.strictEqual(transitions.filter((t) => t.kind === "step").length, counts!.step)

        const resolved = transitions.find((t) => t.kind === "step" && t.to_state === "resolved_manually")
        assert.strictEqual(resolved.step_name, "only")
        assert.strictEqual(resolved.step_uuid, created.step_mapping.only)
        // the operator is the caller's key (anonymous: this server runs without authentication), not the body's
        // resolved_by
        assert.strictEqual(resolved.actor, "key:anonymous")
        assert.strictEqual(resolved.metadata.operator.key_id, "anonymous")
        assert.strictEqual(resolved.metadata.reason, "input corrected by hand")
        // engine transitions name the processor that wrote them
        const claim = transitions.find((t) => t.kind === "step" && t.to_state === "in_progress")
        assert.match(claim.actor, /^processor:[0-9a-f-]{36}$/)
        assert.strictEqual(claim.actor, `processor:${claim.processor_uuid}`)
        const task = transitions.filter((t) => t.kind === "task")
        assert.isNull(task[0].from_state)
        assert.strictEqual(task[task.length - 1].to_state, "complete")
      }))

    it.effect("unknown tasks are a 404 naming the task", () =>
      Effect.gen(function*() {
        const unknown = uuidv7()
        for (const path of ["dag", "timeline", "transitions"]) {
          const response = yield* request("GET", `/v1/tasks/${unknown}/${path}`)
          assertError(response, { status: 404, code: "NOT_FOUND", field: "task_uuid" }, path)
          assert.include(response.json.error.message, unknown)
        }
        assertError(yield* request("GET", `/v1/events?task_uuid=${unknown}`), {
          status: 404,
          code: "NOT_FOUND",
          field: "task_uuid"
        })
        assertError(yield* request("GET", "/v1/tasks/not-a-uuid/dag"), { status: 400, code: "INVALID_UUID", field: "task_uuid" })
      }))
  })

  describe("dead letters", () => {
    it.effect("a message the orchestrator cannot read is listed; re-drive sends it again; discard removes it", () =>
      Effect.gen(function*() {
        const db = yield* sql
        // as the engine makes one: a result message without a step_uuid is dead-lettered by the results loop
        const [sent] = yield* db<{ msg_id: string }>`
          SELECT tasker_send(${RESULTS_QUEUE}, '{"garbage": "<script>alert(1)</script>"}'::jsonb)::text AS msg_id`
        const msgId = Number(sent!.msg_id)
        let listed: any
        for (let i = 0; i < 100 && listed === undefined; i++) {
          const response = yield* request("GET", `/v1/dead_letters?queue=${RESULTS_QUEUE}`)
          assert.strictEqual(response.status, 200, response.text)
          listed = response.json.dead_letters.find((d: { msg_id: number }) => d.msg_id === msgId)
          if (listed === undefined) yield* Effect.sleep("100 millis")
        }
        assert.isDefined(listed, "the results loop did not dead-letter the message")
        assert.strictEqual(listed.queue, RESULTS_QUEUE)
        assert.include(listed.reason, "malformed")
        assert.deepStrictEqual(listed.message, { garbage: "<script>alert(1)</script>" })
        assert.isAtLeast(listed.read_count, 1)
        assert.isString(listed.archived_at)
        assert.isString(listed.enqueued_at)

        // re-drive into a queue nobody reads, so the message stays where the re-drive put it
        yield* db`SELECT tasker_create_queue('dash_test_parked')`
        const [parked] = yield* db<{ msg_id: string }>`
          SELECT tasker_send('dash_test_parked', '{"n": 1}'::jsonb, '{"traceparent": "x"}'::jsonb)::text AS msg_id`
        yield* db`SELECT tasker_archive('dash_test_parked', ${parked!.msg_id}::bigint, 'read 6 times without being processed', true)`
        const list = yield* request("GET", "/v1/dead_letters?queue=dash_test_parked")
        assert.strictEqual(list.json.pagination.total_count, 1)
        assert.strictEqual(list.json.dead_letters[0].reason, "read 6 times without being processed")

        const redriven = yield* request("POST", `/v1/dead_letters/dash_test_parked/${parked!.msg_id}/redrive`)
        assert.strictEqual(redriven.status, 200, redriven.text)
        assert.strictEqual(redriven.json.queue, "dash_test_parked")
        assert.strictEqual(redriven.json.redriven_from, Number(parked!.msg_id))
        assert.notStrictEqual(redriven.json.msg_id, Number(parked!.msg_id))
        const queued = yield* db<{ msg_id: string; message: unknown; headers: unknown; read_ct: number }>`
          SELECT msg_id::text, message, headers, read_ct FROM tasker_queue_messages WHERE queue_name = 'dash_test_parked'`
        assert.deepStrictEqual(queued, [{
          msg_id: String(redriven.json.msg_id),
          message: { n: 1 },
          headers: { traceparent: "x" },
          read_ct: 0
        }])
        const archived = yield* db`SELECT 1 FROM tasker_queue_archive WHERE queue_name = 'dash_test_parked'`
        assert.strictEqual(archived.length, 0)
        assertError(yield* request("POST", `/v1/dead_letters/dash_test_parked/${parked!.msg_id}/redrive`), {
          status: 404,
          code: "NOT_FOUND",
          field: "msg_id"
        })

        const discarded = yield* request("DELETE", `/v1/dead_letters/${RESULTS_QUEUE}/${msgId}`)
        assert.strictEqual(discarded.status, 200, discarded.text)
        assert.deepStrictEqual(discarded.json, { queue: RESULTS_QUEUE, msg_id: msgId, discarded: true })
        const left = yield* db`SELECT 1 FROM tasker_queue_archive WHERE queue_name = ${RESULTS_QUEUE} AND msg_id = ${msgId}`
        assert.strictEqual(left.length, 0)
        // both operator actions are in the audit trail, with the caller (anonymous: no authentication here)
        const audited = yield* db<{ action: string; key_id: string; details: { msg_id: number } }>`
          SELECT action, key_id, details FROM tasker_audit_events
          WHERE action IN ('dead_letter.redrive', 'dead_letter.discard') ORDER BY audit_id`
        assert.deepStrictEqual(audited.map((a) => [a.action, a.key_id, a.details.msg_id]), [
          ["dead_letter.redrive", "anonymous", Number(parked!.msg_id)],
          ["dead_letter.discard", "anonymous", Number(msgId)]
        ])
        assertError(yield* request("DELETE", `/v1/dead_letters/${RESULTS_QUEUE}/${msgId}`), {
          status: 404,
          code: "NOT_FOUND",
          field: "msg_id"
        })
        // a plain (not dead-letter) archive row is not a dead letter
        const [plain] = yield* db<{ msg_id: string }>`
          SELECT tasker_send('dash_test_parked', '{"n": 2}'::jsonb)::text AS msg_id`
        yield* db`SELECT tasker_archive('dash_test_parked', ${plain!.msg_id}::bigint)`
        assertError(yield* request("DELETE", `/v1/dead_letters/dash_test_parked/${plain!.msg_id}`), {
          status: 404,
          code: "NOT_FOUND"
        })
        assertError(yield* request("GET", "/v1/dead_letters?queue=Bad-Name"), { status: 400, code: "BAD_REQUEST", field: "queue" })
        assertError(yield* request("DELETE", "/v1/dead_letters/dash_test_parked/abc"), {
          status: 400,
          code: "BAD_REQUEST",
          field: "msg_id"
        })
      }))
  })

  describe("task list filters", () => {
    it.effect("created_after, created_before, tag and q", () =>
      Effect.gen(function*() {
        const before = new Date()
        yield* Effect.sleep("5 millis")
        const tagged = yield* createAndWait(RETRIED, { tags: ["dash-filter", "other"] })
        yield* Effect.sleep("5 millis")
        const middle = new Date()
        yield* Effect.sleep("5 millis")
        const later = yield* createAndWait(RETRIED)
        const uuids = (json: any) => json.tasks.map((t: { task_uuid: string }) => t.task_uuid)

        const after = yield* request("GET", `/v1/tasks?created_after=${before.toISOString()}&namespace=${NS}`)
        assert.strictEqual(after.status, 200, after.text)
        assert.deepStrictEqual(uuids(after.json), [later.task_uuid, tagged.task_uuid])
        const window = yield* request(
          "GET",
          `/v1/tasks?created_after=${before.toISOString()}&created_before=${middle.toISOString()}`
        )
        assert.deepStrictEqual(uuids(window.json), [tagged.task_uuid])
        assert.strictEqual(window.json.pagination.total_count, 1)

        const byTag = yield* request("GET", "/v1/tasks?tag=dash-filter")
        assert.deepStrictEqual(uuids(byTag.json), [tagged.task_uuid])
        assert.deepStrictEqual((yield* request("GET", "/v1/tasks?tag=nobody-has-it")).json.tasks, [])

        const byUuid = yield* request("GET", `/v1/tasks?q=${later.task_uuid}`)
        assert.deepStrictEqual(uuids(byUuid.json), [later.task_uuid])
        const byCorrelation = yield* request("GET", `/v1/tasks?q=${tagged.correlation_id}`)
        assert.deepStrictEqual(uuids(byCorrelation.json), [tagged.task_uuid])

        assertError(yield* request("GET", "/v1/tasks?created_after=yesterday"), {
          status: 400,
          code: "BAD_REQUEST",
          field: "created_after"
        })
        assertError(yield* request("GET", "/v1/tasks?q=not-a-uuid"), { status: 400, code: "BAD_REQUEST", field: "q" })
      }))
  })

  describe("templates, UI configuration, trace id", () => {
    it.effect("one template version: steps, retry policies, edges, input schema and task count", () =>
      Effect.gen(function*() {
        yield* createAndWait(RETRIED)
        const response = yield* request("GET", `/v1/templates/${NS}/retried/1.0.0`)
        assert.strictEqual(response.status, 200, response.text)
        const t = response.json
        assert.deepStrictEqual(t.steps.map((s: { name: string }) => s.name), ["first", "flaky", "last"])
        const flaky = t.steps[1]
        assert.deepStrictEqual(flaky.depends_on, ["first"])
        assert.strictEqual(flaky.max_attempts, 3)
        assert.strictEqual(flaky.backoff, "linear")
        assert.strictEqual(flaky.backoff_base_ms, 50)
        assert.deepStrictEqual(t.edges, [{ from: "first", to: "flaky" }, { from: "flaky", to: "last" }])
        const db = yield* sql
        const [count] = yield* db<{ n: number }>`
          SELECT count(*)::int AS n FROM tasker_tasks t JOIN tasker_named_tasks nt USING (named_task_uuid)
          WHERE nt.name = 'retried'`
        assert.strictEqual(t.task_count, count!.n)
        assert.isAbove(t.task_count, 0)

        const even = yield* request("GET", "/v1/templates/rust_e2e_linear/mathematical_sequence/1.0.0")
        assert.strictEqual(even.json.input_schema.type, "object")
        assertError(yield* request("GET", `/v1/templates/${NS}/retried/9.9.9`), { status: 404, code: "NOT_FOUND", field: "version" })
      }))

    it.effect("ui_config has the trace URL template; task detail has the task's trace id", () =>
      Effect.gen(function*() {
        const config = yield* request("GET", "/v1/ui_config")
        assert.deepStrictEqual(config.json, { trace_url_template: TRACE_URL, auth_required: false })

        const created = yield* createAndWait(RETRIED)
        const client = yield* TaskerClient
        const detail = yield* client.getTask(created.task_uuid)
        const db = yield* sql
        const [row] = yield* db<{ traceparent: string | null }>`
          SELECT trace_headers ->> 'traceparent' AS traceparent FROM tasker_tasks WHERE task_uuid = ${created.task_uuid}`
        assert.isString(row!.traceparent, "the API stores the creating request's trace context")
        assert.strictEqual(detail.trace_id, row!.traceparent!.split("-")[1])
        assert.match(detail.trace_id!, /^[0-9a-f]{32}$/)
      }))

    it.effect("the typed client reaches the dashboard endpoints", () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const overview = yield* client.api.dashboard.overview()
        assert.instanceOf(overview.generated_at, Date)
        const config = yield* client.api.dashboard.uiConfig()
        assert.strictEqual(config.trace_url_template, TRACE_URL)
        const decoded = Schema.decodeUnknownSync(Schema.Struct({ auth_required: Schema.Boolean }))(config)
        assert.isFalse(decoded.auth_required)
      }))
  })
})

describe("TASKER_TRACE_URL", () => {
  const options = (env: Record<string, string>) =>
    apiServerOptionsFromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))

  it.effect("is read into the server options, and a URL without {traceId} is refused naming the variable", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* options({ TASKER_TRACE_URL: TRACE_URL })).traceUrl, TRACE_URL)
      assert.isUndefined((yield* options({})).traceUrl)
      for (const bad of ["https://jaeger.example/trace/", "javascript:alert({traceId})"]) {
        const error = yield* Effect.flip(options({ TASKER_TRACE_URL: bad }))
        assert.include(String(error), "TASKER_TRACE_URL", bad)
      }
    }))
})
