/**
 * The task state machine: 12 states, the events that move a task between them, and a pure `transition`.
 *
 * Every event leads to one fixed state (`TakeOver` keeps the current one) and is allowed from a fixed set of
 * states, so the whole machine is the `rules` table below. Effects (writing the transition with a
 * compare-and-set) live in `Transitions`.
 */
import { Result, Schema } from "effect"
import { InvalidTransition } from "./Errors.ts"

export const TaskStates = [
  "pending",
  "initializing",
  "enqueuing_steps",
  "steps_in_process",
  "evaluating_results",
  "waiting_for_dependencies",
  "waiting_for_retry",
  "blocked_by_failures",
  "complete",
  "error",
  "cancelled",
  "resolved_manually"
] as const

export const TaskState = Schema.Literals(TaskStates)
export type TaskState = typeof TaskState.Type

/** No event leaves these states. */
export const terminalTaskStates: ReadonlySet<TaskState> = new Set(["complete", "error", "cancelled", "resolved_manually"])

/**
 * States in which one orchestrator works on the task. The transition into one records the processor; while the
 * task stays there only that processor (or anyone, once its heartbeat is stale) may move it on. Leaving the
 * state releases the ownership.
 */
export const ownedTaskStates: ReadonlySet<TaskState> = new Set(["initializing", "enqueuing_steps", "evaluating_results"])

/** States in which a task waits for an orchestrator to pick it up (`get_next_ready_tasks`). */
export const pickableTaskStates: ReadonlySet<TaskState> = new Set([
  "pending",
  "waiting_for_dependencies",
  "waiting_for_retry"
])

/**
 * States after which a task needs something from outside (or nothing at all) to move again: the terminal ones and
 * `blocked_by_failures`. Reaching one notifies the task's waiters (channel `tasker_queue`, `task:<uuid>:<state>`).
 */
export const finishedTaskStates: ReadonlySet<TaskState> = new Set([...terminalTaskStates, "blocked_by_failures"])

export const isTerminalTaskState = (state: TaskState): boolean => terminalTaskStates.has(state)

const Reason = { reason: Schema.String }

export const TaskEvent = Schema.Union([
  /** An orchestrator starts working on a pending task. */
  Schema.TaggedStruct("Start", {}),
  /** Evaluation found steps ready to run. */
  Schema.TaggedStruct("ReadyStepsFound", { count: Schema.Int }),
  /** The task has no steps at all. */
  Schema.TaggedStruct("NoStepsFound", {}),
  /** Nothing can run and nothing is running (waiting on dependencies). */
  Schema.TaggedStruct("NoDependenciesReady", {}),
  /** The ready steps were enqueued for workers. */
  Schema.TaggedStruct("StepsEnqueued", { stepUuids: Schema.Array(Schema.String) }),
  /** Enqueuing failed for good. */
  Schema.TaggedStruct("EnqueueFailed", Reason),
  /** A step result arrived. */
  Schema.TaggedStruct("StepCompleted", { stepUuid: Schema.String }),
  /** All outstanding step results arrived. */
  Schema.TaggedStruct("AllStepsCompleted", {}),
  /** Evaluation found steps still running: hand the task back until their results arrive. */
  Schema.TaggedStruct("StepsInProcess", {}),
  /** Every step is complete (or resolved manually). */
  Schema.TaggedStruct("AllStepsSuccessful", {}),
  /** Nothing can run now, but failed steps will be retried after their backoff. */
  Schema.TaggedStruct("WaitForRetry", {}),
  /** A step failed for good (or was cancelled) and nothing else can run. */
  Schema.TaggedStruct("PermanentFailure", Reason),
  /** A waiting task has something to evaluate. */
  Schema.TaggedStruct("DependenciesReady", {}),
  /** A failed step's backoff has expired (the task was waiting for it, or still has other steps running). */
  Schema.TaggedStruct("RetryReady", {}),
  /** An operator retried or resolved a failed step: the task waits to be evaluated again. */
  Schema.TaggedStruct("Unblock", Reason),
  /** The failure is accepted (by an operator or the give-up policy): the task ends in error. */
  Schema.TaggedStruct("GiveUp", Reason),
  /** An operator resolved the task by hand. */
  Schema.TaggedStruct("ManualResolution", { resolvedBy: Schema.String, reason: Schema.String }),
  Schema.TaggedStruct("Cancel", Reason),
  /** Another processor takes over a task whose owner's heartbeat went stale (the state does not change). */
  Schema.TaggedStruct("TakeOver", { previousProcessorUuid: Schema.NullOr(Schema.String) })
])
export type TaskEvent = typeof TaskEvent.Type
export type TaskEventTag = TaskEvent["_tag"]

/** Every state but the terminal ones, in `TaskStates` order. */
export const nonTerminalTaskStates: ReadonlyArray<TaskState> = TaskStates.filter((s) => !terminalTaskStates.has(s))

interface Rule {
  readonly from: ReadonlyArray<TaskState>
  /** `null` keeps the current state */
  readonly to: TaskState | null
}

/** The whole machine: for each event, the states it is allowed from and the state it leads to. */
export const taskTransitionRules: { readonly [K in TaskEventTag]: Rule } = {
  Start: { from: ["pending"], to: "initializing" },
  ReadyStepsFound: { from: ["initializing", "evaluating_results"], to: "enqueuing_steps" },
  NoStepsFound: { from: ["initializing"], to: "complete" },
  NoDependenciesReady: { from: ["initializing", "evaluating_results"], to: "waiting_for_dependencies" },
  StepsEnqueued: { from: ["enqueuing_steps"], to: "steps_in_process" },
  EnqueueFailed: { from: ["enqueuing_steps"], to: "error" },
  StepCompleted: { from: ["steps_in_process"], to: "evaluating_results" },
  AllStepsCompleted: { from: ["steps_in_process"], to: "evaluating_results" },
  StepsInProcess: { from: ["evaluating_results"], to: "steps_in_process" },
  AllStepsSuccessful: { from: ["evaluating_results"], to: "complete" },
  WaitForRetry: { from: ["evaluating_results"], to: "waiting_for_retry" },
  PermanentFailure: { from: ["evaluating_results"], to: "blocked_by_failures" },
  DependenciesReady: { from: ["waiting_for_dependencies"], to: "evaluating_results" },
  RetryReady: { from: ["waiting_for_retry", "steps_in_process"], to: "evaluating_results" },
  Unblock: { from: ["blocked_by_failures"], to: "waiting_for_dependencies" },
  GiveUp: { from: ["blocked_by_failures"], to: "error" },
  ManualResolution: {
    from: ["blocked_by_failures", "waiting_for_dependencies", "waiting_for_retry"],
    to: "resolved_manually"
  },
  Cancel: { from: nonTerminalTaskStates, to: "cancelled" },
  TakeOver: { from: ["initializing", "enqueuing_steps", "evaluating_results"], to: null }
}

/** The next state of a task in `state` receiving `event`, or `InvalidTransition`. */
export const transitionTask = (state: TaskState, event: TaskEvent): Result.Result<TaskState, InvalidTransition> => {
  const rule = taskTransitionRules[event._tag]
  return rule.from.includes(state)
    ? Result.succeed(rule.to ?? state)
    : Result.fail(new InvalidTransition({ machine: "task", from: state, to: rule.to ?? state, event: event._tag }))
}
