/**
 * The workflow step state machine: 10 states, its events and a pure `transition`, as one rules table.
 *
 * Row effects of each target state (attempts counted on claim, results stored, processed flags) are applied
 * by the SQL transition writer (`tasker_write_step_transition`), in the same statement as the transition row.
 */
import { Result, Schema } from "effect"
import { InvalidTransition } from "./Errors.ts"

export const StepStates = [
  "pending",
  "enqueued",
  "in_progress",
  "enqueued_for_orchestration",
  "enqueued_as_error_for_orchestration",
  "waiting_for_retry",
  "complete",
  "error",
  "cancelled",
  "resolved_manually"
] as const

export const StepState = Schema.Literals(StepStates)
export type StepState = typeof StepState.Type

/** No event leaves these states. `error` is not terminal: an operator may retry or resolve the step. */
export const terminalStepStates: ReadonlySet<StepState> = new Set(["complete", "cancelled", "resolved_manually"])

/** A child may run once every parent is in one of these states. */
export const dependencySatisfyingStepStates: ReadonlySet<StepState> = new Set(["complete", "resolved_manually"])

export const isTerminalStepState = (state: StepState): boolean => terminalStepStates.has(state)

const Message = { message: Schema.String }

export const StepEvent = Schema.Union([
  /** The orchestrator hands the step to the workers' queue. */
  Schema.TaggedStruct("Enqueue", {}),
  /**
   * A worker claims the step (counts an attempt): from the queue (`enqueued`), or at once from `pending` when the
   * worker that completed its last parent runs it itself (a hand-off: the step never waits in the queue).
   */
  Schema.TaggedStruct("Start", {}),
  /** A worker claims a step whose previous claimant stopped answering (its message became visible again). */
  Schema.TaggedStruct("Reclaim", {}),
  /** A worker gives an unfinished step back (graceful shutdown). */
  Schema.TaggedStruct("Release", {}),
  /** The handler succeeded; the result waits for an orchestrator (results sent through the results queue). */
  Schema.TaggedStruct("EnqueueForOrchestration", {}),
  /** The handler failed; the error waits for an orchestrator (or: every allowed attempt's worker was lost). */
  Schema.TaggedStruct("EnqueueAsErrorForOrchestration", {}),
  /** The result is applied: from `in_progress` when the worker applies its own result, else by an orchestrator. */
  Schema.TaggedStruct("Complete", {}),
  /** A retryable failure with attempts left: wait for the backoff. */
  Schema.TaggedStruct("WaitForRetry", Message),
  /** A permanent failure (or a step that can never run). */
  Schema.TaggedStruct("Fail", Message),
  /** Back to pending: automatically after a backoff, or by an operator after an error. */
  Schema.TaggedStruct("Retry", {}),
  Schema.TaggedStruct("Cancel", { reason: Schema.String }),
  /** An operator supplies the step's result by hand; dependents see it as complete. */
  Schema.TaggedStruct("ResolveManually", { resolvedBy: Schema.String, reason: Schema.String })
])
export type StepEvent = typeof StepEvent.Type
export type StepEventTag = StepEvent["_tag"]

const nonTerminal = StepStates.filter((s) => !terminalStepStates.has(s))

interface Rule {
  readonly from: ReadonlyArray<StepState>
  readonly to: StepState
}

/** The whole machine: for each event, the states it is allowed from and the state it leads to. */
export const stepTransitionRules: { readonly [K in StepEventTag]: Rule } = {
  Enqueue: { from: ["pending"], to: "enqueued" },
  Start: { from: ["enqueued", "pending"], to: "in_progress" },
  Reclaim: { from: ["in_progress"], to: "in_progress" },
  Release: { from: ["in_progress"], to: "enqueued" },
  EnqueueForOrchestration: { from: ["in_progress"], to: "enqueued_for_orchestration" },
  EnqueueAsErrorForOrchestration: { from: ["in_progress"], to: "enqueued_as_error_for_orchestration" },
  Complete: { from: ["enqueued_for_orchestration", "in_progress"], to: "complete" },
  WaitForRetry: { from: ["enqueued_as_error_for_orchestration", "in_progress"], to: "waiting_for_retry" },
  Fail: { from: ["enqueued_as_error_for_orchestration", "in_progress", "pending", "enqueued"], to: "error" },
  Retry: { from: ["waiting_for_retry", "error"], to: "pending" },
  Cancel: { from: nonTerminal, to: "cancelled" },
  ResolveManually: { from: nonTerminal, to: "resolved_manually" }
}

/** The next state of a step in `state` receiving `event`, or `InvalidTransition`. */
export const transitionStep = (state: StepState, event: StepEvent): Result.Result<StepState, InvalidTransition> => {
  const rule = stepTransitionRules[event._tag]
  return rule.from.includes(state)
    ? Result.succeed(rule.to)
    : Result.fail(new InvalidTransition({ machine: "step", from: state, to: rule.to, event: event._tag }))
}
