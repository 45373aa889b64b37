/**
 * Helpers for the tests that run the example workflows: one engine hosting every example template on a fresh
 * database (PostgreSQL or PGlite), a way to run a task to its end, and a decoder for the result envelopes stored in
 * `tasker_workflow_steps.results`.
 */
import { assert } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { exampleTemplates } from "../../src/examples/index.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { type StepRow, TaskQueries } from "../../src/tasks/TaskQueries.ts"
import type { DatabaseUnderTest } from "./Databases.ts"

/** The engine hosting every example template (orchestrator and worker, polling every 200 ms) on a fresh `db`. */
export const examplesLayer = (db: DatabaseUnderTest) =>
  engineLayer({ templates: exampleTemplates, settings: { pollIntervalMs: 200 } }).pipe(Layer.provideMerge(db.layer))

/** A step result envelope as the worker stores it. */
export const StepEnvelope = Schema.Struct({
  success: Schema.Boolean,
  status: Schema.String,
  result: Schema.Json,
  error: Schema.NullOr(Schema.Struct({
    message: Schema.String,
    error_type: Schema.String,
    code: Schema.NullOr(Schema.String),
    retryable: Schema.Boolean,
    details: Schema.NullOr(Schema.Json)
  })),
  metadata: Schema.Struct({ attempt: Schema.Int })
})
export type StepEnvelope = typeof StepEnvelope.Type

export const envelopeOf = (step: StepRow): StepEnvelope => {
  assert.isNotNull(step.results, `step ${step.name} has no results`)
  return Schema.decodeUnknownSync(StepEnvelope)(step.results)
}

/** The successful result of a step (fails the test if the step did not succeed). */
export const resultOf = (step: StepRow): Schema.Json => {
  const envelope = envelopeOf(step)
  assert.isTrue(envelope.success, `step ${step.name} failed: ${JSON.stringify(envelope.error)}`)
  return envelope.result
}

/** The failure of a step (fails the test if the step succeeded). */
export const errorOf = (step: StepRow): NonNullable<StepEnvelope["error"]> => {
  const envelope = envelopeOf(step)
  assert.isFalse(envelope.success, `step ${step.name} succeeded`)
  assert.isNotNull(envelope.error)
  return envelope.error!
}

export interface FinishedTask {
  readonly status: string
  readonly steps: ReadonlyMap<string, StepRow>
}

/** Creates a task from an example template (version 1.0.0) and waits until it finishes or is blocked. */
export const runTask = (namespace: string, name: string, context: Schema.Json) =>
  Effect.gen(function*() {
    const init = yield* TaskInitializer
    const queries = yield* TaskQueries
    const created = yield* init.createTask({ namespace, name, version: "1.0.0", context })
    assert.isTrue(created.created, `a task for ${namespace}/${name} with this context already existed`)
    const task = yield* queries.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
    const steps = yield* queries.listSteps(created.task_uuid)
    return { status: task.status, steps: new Map(steps.map((s) => [s.name, s])) } satisfies FinishedTask
  })

/** The named step of a finished task (fails the test if there is none). */
export const stepOf = (task: FinishedTask, name: string): StepRow => {
  const step = task.steps.get(name)
  assert.isDefined(step, `no step ${name}`)
  return step!
}
