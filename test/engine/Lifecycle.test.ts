import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { StepUuid, TaskUuid } from "../../src/domain/Ids.ts"
import { MAX_BATCH_SIZE } from "../../src/domain/TaskRecord.ts"
import { RESULTS_QUEUE, workerQueueName } from "../../src/messaging/Channels.ts"
import { MessageQueue } from "../../src/messaging/MessageQueue.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskOperations } from "../../src/tasks/TaskOperations.ts"
import { type StepRow, TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { TemplateRegistry } from "../../src/workflow/TemplateRegistry.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { engineLayer } from "../../layers/engine.ts"
import { auditTransitions } from "../support/Audit.ts"
import { fixed, fragileWorkflow, gatedWorkflow, newGate } from "../support/Templates.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const NS = "lifecycle"

const Flaky = Workflow.make({
  namespace: NS,
  name: "flaky",
  version: "1.0.0",
  identityStrategy: "always_unique",
  input: Schema.Struct({ succeed_on: Schema.Int, retry_after: Schema.optionalKey(Schema.Number) })
})
  .step("attempt", {
    retry: { maxAttempts: 3, backoff: "exponential", backoffBaseMs: 100 },
    run: (ctx) =>
      ctx.attempt >= ctx.context.succeed_on
        ? Effect.succeed({ attempt: ctx.attempt })
        : Effect.fail(StepError.retryable(`attempt ${ctx.attempt} failed`, {
          code: "FLAKY",
          ...(ctx.context.retry_after === undefined ? {} : { retryAfterSeconds: ctx.context.retry_after })
        }))
  })
  .step("after", { dependsOn: ["attempt"], run: (ctx) => ctx.dependency("attempt", Schema.Struct({ attempt: Schema.Int })) })

/** Trace ids seen by each attempt of the `traced` template's steps, per task. */
const tracesSeen = new Map<string, Array<string>>()
const recordTrace = (taskUuid: string) =>
  Effect.map(Effect.orDie(Effect.currentSpan), (span) => {
    tracesSeen.set(taskUuid, [...(tracesSeen.get(taskUuid) ?? []), span.traceId])
  })

const Traced = Workflow.make({ namespace: NS, name: "traced", version: "1.0.0", identityStrategy: "always_unique" })
  .step("attempt", {
    retry: { maxAttempts: 2, backoff: "exponential", backoffBaseMs: 100 },
    run: (ctx) =>
      Effect.andThen(
        recordTrace(ctx.taskUuid),
        ctx.attempt >= 2 ? Effect.succeed(ctx.attempt) : Effect.fail(StepError.retryable("first attempt fails"))
      )
  })
  .step("after", { dependsOn: ["attempt"], run: (ctx) => Effect.as(recordTrace(ctx.taskUuid), "after") })

/** first → breaks (fails permanently until the task is in `fixed`) → last */
const Fragile = fragileWorkflow(NS)

/** wait (held at the task's gate in `gates`, if the test set one) → after */
const Slow = gatedWorkflow(NS, "slow")

const TimesOut = Workflow.make({ namespace: NS, name: "times_out", version: "1.0.0", identityStrategy: "always_unique" })
  .step("sleepy", {
    timeoutSeconds: 1,
    retry: { maxAttempts: 1 },
    run: () => Effect.sleep("10 seconds").pipe(Effect.as("woke"))
  })

const Strict = Workflow.make({
  namespace: NS,
  name: "strict",
  version: "1.0.0",
  input: Schema.Struct({ order_id: Schema.Int })
}).step("only", { run: (ctx) => Effect.succeed(ctx.context.order_id) })

const Keyed = Workflow.make({ namespace: NS, name: "keyed", version: "1.0.0", identityStrategy: "caller_provided" })
  .step("only", { run: () => Effect.succeed(true) })

/** Dependency results each step saw: its parents' (`dependencyResults`) and its grandparent's (`dependency`). */
const seen = new Map<string, { parents: ReadonlyArray<string>; grandparent: number }>()
const Chain3 = Workflow.make({ namespace: NS, name: "chain3", version: "1.0.0", identityStrategy: "always_unique" })
  .step("a", { run: () => Effect.succeed(1) })
  .step("b", { dependsOn: ["a"], run: (ctx) => Effect.map(ctx.dependency("a", Schema.Number), (a) => a + 1) })
  .step("c", {
    dependsOn: ["b"],
    run: (ctx) =>
      Effect.gen(function*() {
        const b = yield* ctx.dependency("b", Schema.Number)
        const a = yield* ctx.dependency("a", Schema.Number) // not a parent: read on demand
        seen.set(ctx.taskUuid, { parents: Object.keys(ctx.dependencyResults), grandparent: a })
        return a + b
      })
  })

/** Stored without handlers: this worker hosts its namespace but cannot run it. */
const Unhosted = Workflow.make({ namespace: NS, name: "unhosted", version: "1.0.0", identityStrategy: "always_unique" })
  .step("orphan", { run: () => Effect.succeed(true) })

/** In a namespace (and so a worker queue) of its own. */
const Elsewhere = Workflow.make({ namespace: `${NS}_other`, name: "one", version: "1.0.0", identityStrategy: "always_unique" })
  .step("only", { run: () => Effect.succeed(1) })

/** No steps at all: complete as it is created. */
const Empty = Workflow.make({ namespace: NS, name: "empty", version: "1.0.0", identityStrategy: "always_unique" })

const templates = [Flaky, Traced, Fragile, Slow, TimesOut, Strict, Keyed, Chain3, Elsewhere, Empty]

const TestLayer = engineLayer({
  templates,
  // short visibility timeout and read limit: a step without a handler is given back once (for 1 s), then fails
  settings: { pollIntervalMs: 200, visibilityTimeoutSeconds: 1, maxReadCount: 2 }
}).pipe(Layer.provideMerge(TestDatabaseLayer))

const submit = (name: string, context: Record<string, unknown> = {}, extra: { idempotency_key?: string } = {}) =>
  Effect.gen(function*() {
    const init = yield* TaskInitializer
    return yield* init.createTask({ namespace: NS, name, version: "1.0.0", context: context as never, ...extra })
  })

const finish = (taskUuid: TaskUuid) =>
  Effect.gen(function*() {
    const queries = yield* TaskQueries
    return yield* queries.waitForCompletion(taskUuid, { timeout: "20 seconds" })
  })

const stepsByName = (taskUuid: TaskUuid) =>
  Effect.gen(function*() {
    const queries = yield* TaskQueries
    const steps = yield* queries.listSteps(taskUuid)
    return Object.fromEntries(steps.map((s) => [s.name, s])) as Record<string, StepRow>
  })

const resultOf = (step: StepRow) => (step.results as { result: unknown } | null)?.result

const stepTransitions = (stepUuid: StepUuid) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ to_state: string; created_at: Date; metadata: Record<string, unknown> }>`
      SELECT to_state, created_at, metadata FROM tasker_workflow_step_transitions
      WHERE workflow_step_uuid = ${stepUuid} ORDER BY sort_key`
  })

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("engine lifecycle", (it) => {
  describe("creating tasks in bulk", () => {
    it.effect("createTasks creates a batch in one transaction, in order; a request matching an earlier one's identity gets its task", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const results = yield* init.createTasks([
          { namespace: NS, name: "strict", version: "1.0.0", context: { order_id: 7001 } },
          { namespace: NS, name: "chain3", version: "1.0.0" },
          { namespace: NS, name: "strict", version: "1.0.0", context: { order_id: 7001 } },
          { namespace: NS, name: "keyed", version: "1.0.0", idempotency_key: "bulk-1" }
        ])
        assert.deepStrictEqual(results.map((r) => r.created), [true, true, false, true])
        assert.strictEqual(results[2]!.task_uuid, results[0]!.task_uuid)
        assert.deepStrictEqual(Object.keys(results[1]!.step_mapping).sort(), ["a", "b", "c"])
        for (const r of results) assert.strictEqual((yield* finish(r.task_uuid)).status, "complete")
        // the same key again, alone: the existing task
        const again = yield* submit("keyed", {}, { idempotency_key: "bulk-1" })
        assert.deepStrictEqual([again.created, again.task_uuid], [false, results[3]!.task_uuid])
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))

    it.effect("a batch with a bad request writes nothing and names the request", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const sql = yield* SqlClient.SqlClient
        const count = Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`, (rows) => rows[0]!.n)
        const before = yield* count
        const error = yield* Effect.flip(init.createTasks([
          { namespace: NS, name: "strict", version: "1.0.0", context: { order_id: 7002 } },
          { namespace: NS, name: "strict", version: "1.0.0", context: { order_id: "seven" } }
        ]))
        assert.strictEqual(error._tag, "InvalidTaskRequest")
        if (error._tag === "InvalidTaskRequest") assert.strictEqual(error.field, "tasks.1.context.order_id")
        // a request the template refuses for another reason: caller_provided without its key
        const keyless = yield* Effect.flip(init.createTasks([
          { namespace: NS, name: "chain3", version: "1.0.0" },
          { namespace: NS, name: "keyed", version: "1.0.0" }
        ]))
        assert.strictEqual(keyless._tag, "InvalidTaskRequest")
        if (keyless._tag === "InvalidTaskRequest") assert.strictEqual(keyless.field, "tasks.1.idempotency_key")
        // too many
        const tooMany = yield* Effect.flip(init.createTasks(
          Array.from({ length: MAX_BATCH_SIZE + 1 }, () => ({ namespace: NS, name: "chain3", version: "1.0.0" }))
        ))
        assert.strictEqual(tooMany._tag, "InvalidTaskRequest")
        if (tooMany._tag === "InvalidTaskRequest") assert.strictEqual(tooMany.field, "tasks")
        assert.strictEqual(yield* count, before)
      }))

    it.effect("a task without steps is complete at creation, alone or in a batch", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const sql = yield* SqlClient.SqlClient
        const alone = yield* submit("empty")
        const [inBatch] = yield* init.createTasks([{ namespace: NS, name: "empty", version: "1.0.0" }])
        for (const created of [alone, inBatch!]) {
          assert.deepStrictEqual([created.created, created.status, created.step_count], [true, "complete", 0])
          const rows = yield* sql<{ event: string }>`
            SELECT metadata ->> 'event' AS event FROM tasker_task_transitions WHERE task_uuid = ${created.task_uuid}
            ORDER BY sort_key`
          assert.deepStrictEqual(rows.map((r) => r.event), ["Create", "Start", "NoStepsFound"])
          const done = yield* finish(created.task_uuid)
          assert.strictEqual(done.status, "complete")
          assert.instanceOf(done.completed_at, Date)
        }
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))

    it.effect("waitForCompletion inside the transaction that created the task reads it through that transaction", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const queries = yield* TaskQueries
        const sql = yield* SqlClient.SqlClient
        // (the task is visible to this transaction only: the coalesced reads, on the pool, would not find it)
        const done = yield* sql.withTransaction(Effect.gen(function*() {
          const created = yield* init.createTask({ namespace: NS, name: "empty", version: "1.0.0" })
          return yield* queries.waitForCompletion(created.task_uuid as TaskUuid, { timeout: "5 seconds" })
        }))
        assert.strictEqual(done.status, "complete")
      }))

    it.effect("a batch request matching a task created before gets that task; a batch spans namespaces (one queue each)", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const earlier = yield* submit("strict", { order_id: 7003 })
        const results = yield* init.createTasks([
          { namespace: `${NS}_other`, name: "one", version: "1.0.0" },
          { namespace: NS, name: "strict", version: "1.0.0", context: { order_id: 7003 } },
          { namespace: NS, name: "chain3", version: "1.0.0" }
        ])
        assert.deepStrictEqual(results.map((r) => r.created), [true, false, true])
        assert.strictEqual(results[1]!.task_uuid, earlier.task_uuid)
        for (const r of results) assert.strictEqual((yield* finish(r.task_uuid)).status, "complete")
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))
  })

  describe("the step path", () => {
    it.effect("roots go through the queue when the task is created inside the caller's transaction or in bulk", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        const sql = yield* SqlClient.SqlClient
        // inside a transaction the creation cannot know whether the caller commits: it enqueues the root
        const inTransaction = yield* sql.withTransaction(submit("chain3"))
        const [inBulk] = yield* init.createTasks([{ namespace: NS, name: "chain3", version: "1.0.0" }])
        for (const created of [inTransaction, inBulk!]) {
          assert.strictEqual((yield* finish(created.task_uuid)).status, "complete")
          const steps = yield* stepsByName(created.task_uuid)
          const events = (yield* stepTransitions(steps.a!.step_uuid)).map((t) => t.metadata.event)
          assert.deepStrictEqual(events, ["Create", "Enqueue", "Start", "Complete"])
        }
      }))

    it.effect("a handler gets its parents' results, an ancestor's on demand; each child is handed to the worker that finished its parent", () =>
      Effect.gen(function*() {
        const { task_uuid } = yield* submit("chain3")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "complete")
        const steps = yield* stepsByName(task_uuid)
        assert.strictEqual(resultOf(steps.c!), 3)
        assert.deepStrictEqual(seen.get(task_uuid), { parents: ["b"], grandparent: 1 })
        // a was claimed for this process's worker by the creation, b and c by their parent's result: none went
        // through the queue
        const events = (uuid: StepUuid) => Effect.map(stepTransitions(uuid), (ts) => ts.map((t) => t.metadata.event))
        for (const name of ["a", "b", "c"]) {
          assert.deepStrictEqual(yield* events(steps[name]!.step_uuid), ["Create", "Start", "Complete"], name)
          const [start] = (yield* stepTransitions(steps[name]!.step_uuid)).filter((t) => t.metadata.event === "Start")
          assert.strictEqual(start!.metadata.handoff, true, name)
        }
        // the task recorded its start and its end, nothing per completed step in between
        const sql = yield* SqlClient.SqlClient
        const taskEvents = yield* sql<{ event: string }>`
          SELECT metadata ->> 'event' AS event FROM tasker_task_transitions WHERE task_uuid = ${task_uuid} ORDER BY sort_key`
        assert.deepStrictEqual(taskEvents.map((t) => t.event), [
          "Create",
          "Start",
          "ReadyStepsFound",
          "StepsEnqueued",
          "StepCompleted",
          "AllStepsSuccessful"
        ])
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))
  })

  describe("retries", () => {
    it.effect("a retryable failure is retried after its backoff until it succeeds", () =>
      Effect.gen(function*() {
        const { task_uuid } = yield* submit("flaky", { succeed_on: 3 })
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "complete")
        const steps = yield* stepsByName(task_uuid)
        assert.strictEqual(steps.attempt!.attempts, 3)
        assert.deepStrictEqual(resultOf(steps.after!), { attempt: 3 })
        const claims = (yield* stepTransitions(steps.attempt!.step_uuid)).filter((t) => t.to_state === "in_progress")
        assert.strictEqual(claims.length, 3)
        // exponential, base 100 ms: the 2nd claim waits >= 100 ms after the 1st, the 3rd >= 200 ms after the 2nd
        assert.isAtLeast(claims[1]!.created_at.getTime() - claims[0]!.created_at.getTime(), 100)
        assert.isAtLeast(claims[2]!.created_at.getTime() - claims[1]!.created_at.getTime(), 200)
      }))

    it.effect("a handler's retry-after hint replaces the backoff policy", () =>
      Effect.gen(function*() {
        const { task_uuid } = yield* submit("flaky", { succeed_on: 2, retry_after: 0.4 })
        yield* finish(task_uuid)
        const steps = yield* stepsByName(task_uuid)
        const transitions = yield* stepTransitions(steps.attempt!.step_uuid)
        const waiting = transitions.find((t) => t.to_state === "waiting_for_retry")!
        assert.closeTo(waiting.metadata.backoff_seconds as number, 0.4, 1e-9)
        const claims = transitions.filter((t) => t.to_state === "in_progress")
        assert.isAtLeast(claims[1]!.created_at.getTime() - claims[0]!.created_at.getTime(), 400)
      }))

    it.effect("every attempt, including the retry the readiness loop enqueues after the backoff, runs in the task's trace", () =>
      Effect.gen(function*() {
        const { task_uuid, traceId } = yield* Effect.withSpan(
          Effect.gen(function*() {
            const created = yield* submit("traced")
            return { ...created, traceId: (yield* Effect.currentSpan).traceId }
          }),
          "client request"
        )
        assert.strictEqual((yield* finish(task_uuid)).status, "complete")
        // attempt 1, attempt 2 (re-enqueued by the readiness loop), then `after`
        assert.deepStrictEqual(tracesSeen.get(task_uuid), [traceId, traceId, traceId])
      }))

    it.effect("a step out of attempts fails, and its task is blocked by failures", () =>
      Effect.gen(function*() {
        const { task_uuid } = yield* submit("flaky", { succeed_on: 5 })
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "blocked_by_failures")
        const steps = yield* stepsByName(task_uuid)
        assert.deepStrictEqual([steps.attempt!.current_state, steps.attempt!.attempts], ["error", 3])
        assert.strictEqual(steps.after!.current_state, "pending")
        const error = (steps.attempt!.results as { error: { code: string; retryable: boolean } }).error
        assert.deepStrictEqual([error.code, error.retryable], ["FLAKY", true])
      }))

    it.effect("a step that exceeds its timeout fails with a Timeout error", () =>
      Effect.gen(function*() {
        const { task_uuid } = yield* submit("times_out")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "blocked_by_failures")
        const steps = yield* stepsByName(task_uuid)
        const error = (steps.sleepy!.results as { error: { error_type: string } }).error
        assert.strictEqual(error.error_type, "Timeout")
      }))
  })

  describe("permanent failures and operators", () => {
    it.effect("a permanent failure blocks the task at once; an operator's retry lets it finish", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const { task_uuid } = yield* submit("fragile")
        assert.strictEqual((yield* finish(task_uuid)).status, "blocked_by_failures")
        let steps = yield* stepsByName(task_uuid)
        assert.deepStrictEqual([steps.breaks!.current_state, steps.breaks!.attempts], ["error", 1])

        fixed.add(task_uuid)
        assert.strictEqual(yield* ops.retryStep(task_uuid, steps.breaks!.step_uuid), "pending")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "complete")
        steps = yield* stepsByName(task_uuid)
        assert.strictEqual(resultOf(steps.last!), 20)
        assert.strictEqual(steps.breaks!.attempts, 1)
      }))

    it.effect("a manually resolved step feeds its result to the steps that depend on it", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const { task_uuid } = yield* submit("fragile")
        yield* finish(task_uuid)
        const steps = yield* stepsByName(task_uuid)
        yield* ops.resolveStep(task_uuid, steps.breaks!.step_uuid, { resultData: 7, resolvedBy: "ops", reason: "fixed upstream" })
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "complete")
        const after = yield* stepsByName(task_uuid)
        assert.strictEqual(after.breaks!.current_state, "resolved_manually")
        assert.strictEqual(resultOf(after.last!), 70)
      }))

    it.effect("giving up a blocked task ends it in error", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const { task_uuid } = yield* submit("fragile")
        yield* finish(task_uuid)
        assert.strictEqual(yield* ops.giveUpTask(task_uuid, "not worth fixing"), "error")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "error")
        assert.instanceOf(task.completed_at, Date)
      }))

    it.effect("steps of a finished task cannot be retried or resolved", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const { task_uuid, step_mapping } = yield* submit("fragile")
        yield* finish(task_uuid)
        yield* ops.giveUpTask(task_uuid, "done with it")
        const retry = yield* Effect.flip(ops.retryStep(task_uuid, step_mapping.breaks!))
        assert.strictEqual(retry._tag, "InvalidTransition")
        const resolve = yield* Effect.flip(
          ops.resolveStep(task_uuid, step_mapping.breaks!, { resultData: 1, resolvedBy: "ops", reason: "late" })
        )
        assert.strictEqual(resolve._tag, "InvalidTransition")
        assert.strictEqual((yield* finish(task_uuid)).status, "error")
      }))

    it.effect("resolving a step while it runs moves the task on; the handler's late result is discarded", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const sql = yield* SqlClient.SqlClient
        const { context, gate } = yield* newGate
        const { task_uuid, step_mapping } = yield* submit("slow", context)
        for (let i = 0; i < 100; i++) {
          const [row] = yield* sql<{ current_state: string }>`
            SELECT current_state FROM tasker_workflow_steps WHERE workflow_step_uuid = ${step_mapping.wait!}`
          if (row!.current_state === "in_progress") break
          yield* Effect.sleep("20 millis")
        }
        yield* ops.resolveStep(task_uuid, step_mapping.wait!, { resultData: "by hand", resolvedBy: "ops", reason: "slow" })
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "complete")
        yield* Deferred.succeed(gate, undefined)
        const steps = yield* stepsByName(task_uuid)
        assert.strictEqual(resultOf(steps.wait!), "by hand")
        assert.strictEqual(resultOf(steps.after!), "after")
      }))

    it.effect("operator actions on the wrong task or state are typed errors", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const a = yield* submit("fragile")
        const b = yield* submit("fragile")
        yield* finish(a.task_uuid)
        const stepOfA = a.step_mapping.breaks!
        const wrongTask = yield* Effect.flip(ops.retryStep(b.task_uuid, stepOfA))
        assert.strictEqual(wrongTask._tag, "NotFound")
        const notFailed = yield* Effect.flip(ops.retryStep(a.task_uuid, a.step_mapping.first!))
        assert.strictEqual(notFailed._tag, "InvalidTransition")
      }))
  })

  describe("cancel", () => {
    it.effect("cancelling a running task cancels its steps; the running handler's late result is discarded", () =>
      Effect.gen(function*() {
        const ops = yield* TaskOperations
        const { context, gate } = yield* newGate
        const { task_uuid, step_mapping } = yield* submit("slow", context)
        // wait until the step runs
        const sql = yield* SqlClient.SqlClient
        for (let i = 0; i < 100; i++) {
          const [row] = yield* sql<{ current_state: string }>`
            SELECT current_state FROM tasker_workflow_steps WHERE workflow_step_uuid = ${step_mapping.wait!}`
          if (row!.current_state === "in_progress") break
          yield* Effect.sleep("20 millis")
        }
        assert.strictEqual(yield* ops.cancelTask(task_uuid, "changed my mind"), "cancelled")
        yield* Deferred.succeed(gate, undefined)
        yield* Effect.sleep("300 millis")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "cancelled")
        const steps = yield* stepsByName(task_uuid)
        assert.deepStrictEqual([steps.wait!.current_state, steps.after!.current_state], ["cancelled", "cancelled"])
        assert.isNull(steps.wait!.results)
        const again = yield* Effect.flip(ops.cancelTask(task_uuid))
        assert.strictEqual(again._tag, "InvalidTransition")
      }))
  })

  describe("identity", () => {
    it.effect("the same request twice returns the same task (strict identity)", () =>
      Effect.gen(function*() {
        const first = yield* submit("strict", { order_id: 41 })
        const second = yield* submit("strict", { order_id: 41 })
        const other = yield* submit("strict", { order_id: 42 })
        assert.isTrue(first.created)
        assert.isFalse(second.created)
        assert.strictEqual(second.task_uuid, first.task_uuid)
        assert.strictEqual(second.correlation_id, first.correlation_id)
        assert.deepStrictEqual(second.step_mapping, first.step_mapping)
        assert.notStrictEqual(other.task_uuid, first.task_uuid)
      }))

    it.effect("concurrent identical requests create exactly one task", () =>
      Effect.gen(function*() {
        const created = yield* Effect.all(Array.from({ length: 10 }, () => submit("strict", { order_id: 1000 })), {
          concurrency: "unbounded"
        })
        assert.strictEqual(new Set(created.map((c) => c.task_uuid)).size, 1)
        assert.strictEqual(created.filter((c) => c.created).length, 1)
      }))

    it.effect("caller_provided identity needs an idempotency key and dedupes by it", () =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(submit("keyed"))
        assert.strictEqual(missing._tag, "InvalidTaskRequest")
        if (missing._tag === "InvalidTaskRequest") assert.strictEqual(missing.field, "idempotency_key")
        const a = yield* submit("keyed", {}, { idempotency_key: "order-7" })
        const b = yield* submit("keyed", { other: true }, { idempotency_key: "order-7" })
        const c = yield* submit("keyed", {}, { idempotency_key: "order-8" })
        assert.strictEqual(b.task_uuid, a.task_uuid)
        assert.notStrictEqual(c.task_uuid, a.task_uuid)
      }))

    it.effect("always_unique creates a new task every time", () =>
      Effect.gen(function*() {
        const a = yield* submit("slow")
        const b = yield* submit("slow")
        assert.notStrictEqual(a.task_uuid, b.task_uuid)
        yield* Effect.all([finish(a.task_uuid), finish(b.task_uuid)])
      }))
  })

  describe("bad input and bad messages", () => {
    it.effect("a context that fails the input schema is rejected naming the field; nothing is written", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`
        const error = yield* Effect.flip(submit("strict", { order_id: "not a number" }))
        assert.strictEqual(error._tag, "InvalidTaskRequest")
        if (error._tag === "InvalidTaskRequest") assert.strictEqual(error.field, "context.order_id")
        const notObject = yield* Effect.flip(
          Effect.flatMap(TaskInitializer, (init) =>
            init.createTask({ namespace: NS, name: "strict", version: "1.0.0", context: [1, 2] }))
        )
        assert.strictEqual(notObject._tag, "InvalidTaskRequest")
        const unknown = yield* Effect.flip(
          Effect.flatMap(TaskInitializer, (init) => init.createTask({ namespace: NS, name: "nope", version: "1.0.0" }))
        )
        assert.strictEqual(unknown._tag, "TemplateNotFound")
        const [after] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM tasker_tasks`
        assert.strictEqual(after!.n, before!.n)
      }))

    it.effect("a step with no handler on the worker is given back, then fails with HANDLER_NOT_FOUND", () =>
      Effect.gen(function*() {
        const registry = yield* TemplateRegistry
        const { definition } = yield* registry.register({
          ...Unhosted,
          steps: Unhosted.steps.map((s) => ({ ...s, handler: undefined }))
        })
        assert.strictEqual(definition.name, "unhosted")
        const { task_uuid } = yield* submit("unhosted")
        const task = yield* finish(task_uuid)
        assert.strictEqual(task.status, "blocked_by_failures")
        const steps = yield* stepsByName(task_uuid)
        assert.strictEqual((steps.orphan!.results as { error: { code: string } }).error.code, "HANDLER_NOT_FOUND")
        // first given back for another worker (without using up the attempt), then failed
        const events = (yield* stepTransitions(steps.orphan!.step_uuid)).map((t) => t.metadata.event)
        assert.deepStrictEqual(events.slice(1, 5), ["Enqueue", "Start", "Release", "Start"])
        assert.strictEqual(steps.orphan!.attempts, 1)
      }))

    it.effect("malformed and unknown-step messages go to the dead-letter archive; the queues keep flowing", () =>
      Effect.gen(function*() {
        const queue = yield* MessageQueue
        yield* queue.send(workerQueueName(NS), { hello: "world" })
        yield* queue.send(workerQueueName(NS), { task_uuid: crypto.randomUUID(), step_uuid: crypto.randomUUID() })
        yield* queue.send(RESULTS_QUEUE, { step_uuid: "not-a-uuid" })
        const { task_uuid } = yield* submit("flaky", { succeed_on: 1 })
        assert.strictEqual((yield* finish(task_uuid)).status, "complete")
        yield* Effect.sleep("300 millis")
        const workerDead = yield* queue.archived(workerQueueName(NS), { deadLetterOnly: true })
        const reasons = workerDead.map((m) => m.reason).sort()
        assert.includeMembers(reasons, ["malformed message: no step_uuid"])
        assert.isTrue(reasons.some((r) => r?.startsWith("unknown step")))
        const resultDead = yield* queue.archived(RESULTS_QUEUE, { deadLetterOnly: true })
        assert.isTrue(resultDead.some((m) => m.reason === "malformed message: no step_uuid"))
      }))
  })

  it.effect("every recorded transition is one the state machines allow", () =>
    Effect.gen(function*() {
      const problems = yield* auditTransitions
      assert.deepStrictEqual(problems, [])
    }))
})

const GiveUpLayer = engineLayer({
  templates: [Fragile],
  settings: { pollIntervalMs: 200, giveUpBlockedAfterSeconds: 0.5 }
}).pipe(Layer.provideMerge(TestDatabaseLayer))

layer(GiveUpLayer, { excludeTestServices: true, timeout: "30 seconds" })("give-up policy", (it) => {
  it.effect("a task blocked longer than giveUpBlockedAfterSeconds ends in error by itself", () =>
    Effect.gen(function*() {
      const { task_uuid } = yield* submit("fragile")
      assert.strictEqual((yield* finish(task_uuid)).status, "blocked_by_failures")
      const queries = yield* TaskQueries
      let status: string = "blocked_by_failures"
      for (let i = 0; i < 50 && status !== "error"; i++) {
        yield* Effect.sleep("100 millis")
        status = (yield* queries.getTask(task_uuid)).status
      }
      assert.strictEqual(status, "error")
      const sql = yield* SqlClient.SqlClient
      const [last] = yield* sql<{ event: string }>`
        SELECT metadata ->> 'event' AS event FROM tasker_task_transitions WHERE task_uuid = ${task_uuid} ORDER BY sort_key DESC LIMIT 1`
      assert.strictEqual(last!.event, "GiveUp")
    }))
})
