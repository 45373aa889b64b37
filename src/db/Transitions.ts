/**
 * State transitions as effects: read the current state (unless the caller knows it), ask the pure machine for
 * the next state, and write it with the compare-and-set SQL function.
 *
 * Failure modes, all typed:
 * - `NotFound`: no such task/step;
 * - `InvalidTransition`: the machine refuses the event in the current state;
 * - `StaleState`: another writer changed the state between the read (or the caller's `expected`) and the write;
 * - `OwnershipConflict`: the task is in an owned state held by another live processor;
 * - `SqlError`: the database failed (reason kept).
 */
import { Context, Effect, Layer, Result } from "effect"
import type { Schema } from "effect"
import type { SqlError } from "effect/sql"
import { type InvalidTransition, type NotFound, OwnershipConflict, StaleState } from "../domain/Errors.ts"
import type { ProcessorUuid, StepUuid, TaskUuid } from "../domain/Ids.ts"
import { type TransitionMetadata, TransitionFunctions } from "./SqlFunctions.ts"
import { type StepEvent, type StepState, transitionStep } from "../domain/StepStateMachine.ts"
import { type TaskEvent, type TaskState, transitionTask } from "../domain/TaskStateMachine.ts"

export interface TaskTransitionOptions {
  /** the processor making the transition (recorded; owns the task while it stays in an owned state) */
  readonly processorUuid: ProcessorUuid
  /** the state the caller knows the task is in; saves a read, and the write still checks it */
  readonly expected?: TaskState | undefined
  readonly metadata?: TransitionMetadata | undefined
  readonly staleAfterSeconds?: number | undefined
}

export interface StepTransitionOptions {
  readonly expected?: StepState | undefined
  /** only transition if the step's attempts still equal this (the attempt a worker claimed) */
  readonly expectedAttempts?: number | undefined
  /** the result envelope, stored in `results` by states that record one */
  readonly results?: Schema.Json | undefined
  readonly processorUuid?: ProcessorUuid | undefined
  readonly metadata?: TransitionMetadata | undefined
}

export interface StepTransitionResult {
  readonly state: StepState
  readonly attempts: number
}

export type TaskTransitionError = NotFound | InvalidTransition | StaleState | OwnershipConflict | SqlError.SqlError
export type StepTransitionError = NotFound | InvalidTransition | StaleState | SqlError.SqlError

/** The metadata written with a transition: the event's name and data, then the caller's extra fields. */
const eventMetadata = (event: TaskEvent | StepEvent, extra: TransitionMetadata | undefined): TransitionMetadata => {
  const { _tag, ...data } = event
  return { event: _tag, ...(data as TransitionMetadata), ...extra }
}

export class Transitions extends Context.Service<Transitions, {
  /** Applies `event` to a task; returns the new state. */
  readonly task: (
    taskUuid: TaskUuid,
    event: TaskEvent,
    options: TaskTransitionOptions
  ) => Effect.Effect<TaskState, TaskTransitionError>
  /** Applies `event` to a step; returns the new state and the step's attempts. */
  readonly step: (
    stepUuid: StepUuid,
    event: StepEvent,
    options?: StepTransitionOptions
  ) => Effect.Effect<StepTransitionResult, StepTransitionError>
}>()("tasker/db/Transitions") {
  static readonly layerNoDeps = Layer.effect(
    Transitions,
    Effect.gen(function*() {
      const fns = yield* TransitionFunctions

      const task = Effect.fn("Transitions.task")(
        function*(taskUuid: TaskUuid, event: TaskEvent, options: TaskTransitionOptions) {
          const from = options.expected ?? (yield* fns.currentTaskState(taskUuid))
          const next = transitionTask(from, event)
          if (Result.isFailure(next)) return yield* next.failure
          const outcome = yield* fns.transitionTaskStateAtomic({
            taskUuid,
            from,
            to: next.success,
            processorUuid: options.processorUuid,
            metadata: eventMetadata(event, options.metadata),
            staleAfterSeconds: options.staleAfterSeconds
          })
          if (outcome.transitioned) return outcome.current_state
          if (outcome.current_state !== from) {
            return yield* new StaleState({ entity: "task", id: taskUuid, expected: from, actual: outcome.current_state })
          }
          return yield* new OwnershipConflict({
            taskUuid,
            state: outcome.current_state,
            ownerProcessorUuid: outcome.owner_processor_uuid ?? "unknown"
          })
        },
        Effect.annotateLogs("machine", "task")
      )

      const step = Effect.fn("Transitions.step")(
        function*(stepUuid: StepUuid, event: StepEvent, options: StepTransitionOptions = {}) {
          const from = options.expected ?? (yield* fns.currentStepState(stepUuid)).current_state
          const next = transitionStep(from, event)
          if (Result.isFailure(next)) return yield* next.failure
          const outcome = yield* fns.transitionStepStateAtomic({
            stepUuid,
            from,
            to: next.success,
            metadata: eventMetadata(event, options.metadata),
            results: options.results,
            processorUuid: options.processorUuid,
            expectedAttempts: options.expectedAttempts
          })
          if (outcome.transitioned) return { state: outcome.current_state, attempts: outcome.attempts }
          return yield* new StaleState({
            entity: "step",
            id: stepUuid,
            expected: from,
            actual: outcome.current_state === from
              ? `${outcome.current_state} (attempts ${outcome.attempts}, expected ${options.expectedAttempts})`
              : outcome.current_state
          })
        },
        Effect.annotateLogs("machine", "step")
      )

      return Transitions.of({ task, step })
    })
  )

  static readonly layer = this.layerNoDeps.pipe(Layer.provide(TransitionFunctions.layer))
}

