import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  type TaskEvent,
  type TaskEventTag,
  type TaskState,
  TaskStates,
  terminalTaskStates,
  transitionTask
} from "../../src/domain/TaskStateMachine.ts"

const events: { readonly [K in TaskEventTag]: Extract<TaskEvent, { _tag: K }> } = {
  Start: { _tag: "Start" },
  ReadyStepsFound: { _tag: "ReadyStepsFound", count: 2 },
  NoStepsFound: { _tag: "NoStepsFound" },
  NoDependenciesReady: { _tag: "NoDependenciesReady" },
  StepsEnqueued: { _tag: "StepsEnqueued", stepUuids: ["a"] },
  EnqueueFailed: { _tag: "EnqueueFailed", reason: "queue gone" },
  StepCompleted: { _tag: "StepCompleted", stepUuid: "a" },
  AllStepsCompleted: { _tag: "AllStepsCompleted" },
  StepsInProcess: { _tag: "StepsInProcess" },
  AllStepsSuccessful: { _tag: "AllStepsSuccessful" },
  WaitForRetry: { _tag: "WaitForRetry" },
  PermanentFailure: { _tag: "PermanentFailure", reason: "step failed" },
  DependenciesReady: { _tag: "DependenciesReady" },
  RetryReady: { _tag: "RetryReady" },
  Unblock: { _tag: "Unblock", reason: "step retried" },
  GiveUp: { _tag: "GiveUp", reason: "operator" },
  ManualResolution: { _tag: "ManualResolution", resolvedBy: "ops", reason: "fixed by hand" },
  Cancel: { _tag: "Cancel", reason: "not needed" },
  TakeOver: { _tag: "TakeOver", previousProcessorUuid: null }
}

const nonTerminal = TaskStates.filter((s) => !terminalTaskStates.has(s))

/** The allowed transitions, written out independently of the implementation's table. */
const allowed: ReadonlyArray<readonly [TaskState, TaskEventTag, TaskState]> = [
  ["pending", "Start", "initializing"],
  ["initializing", "ReadyStepsFound", "enqueuing_steps"],
  ["initializing", "NoStepsFound", "complete"],
  ["initializing", "NoDependenciesReady", "waiting_for_dependencies"],
  ["enqueuing_steps", "StepsEnqueued", "steps_in_process"],
  ["enqueuing_steps", "EnqueueFailed", "error"],
  ["steps_in_process", "StepCompleted", "evaluating_results"],
  ["steps_in_process", "AllStepsCompleted", "evaluating_results"],
  ["evaluating_results", "AllStepsSuccessful", "complete"],
  ["evaluating_results", "ReadyStepsFound", "enqueuing_steps"],
  ["evaluating_results", "NoDependenciesReady", "waiting_for_dependencies"],
  ["evaluating_results", "WaitForRetry", "waiting_for_retry"],
  ["evaluating_results", "PermanentFailure", "blocked_by_failures"],
  ["evaluating_results", "StepsInProcess", "steps_in_process"],
  ["waiting_for_dependencies", "DependenciesReady", "evaluating_results"],
  ["waiting_for_retry", "RetryReady", "evaluating_results"],
  ["steps_in_process", "RetryReady", "evaluating_results"],
  ["blocked_by_failures", "Unblock", "waiting_for_dependencies"],
  ["blocked_by_failures", "GiveUp", "error"],
  ["blocked_by_failures", "ManualResolution", "resolved_manually"],
  ["waiting_for_dependencies", "ManualResolution", "resolved_manually"],
  ["waiting_for_retry", "ManualResolution", "resolved_manually"],
  ["initializing", "TakeOver", "initializing"],
  ["enqueuing_steps", "TakeOver", "enqueuing_steps"],
  ["evaluating_results", "TakeOver", "evaluating_results"],
  ...nonTerminal.map((s) => [s, "Cancel", "cancelled"] as const)
]

const key = (state: string, event: string) => `${state}/${event}`
const allowedMap = new Map(allowed.map(([from, event, to]) => [key(from, event), to]))

describe("task state machine", () => {
  it("has the 12 states of the reference", () => {
    assert.strictEqual(TaskStates.length, 12)
  })

  for (const [from, event, to] of allowed) {
    it(`${from} --${event}--> ${to}`, () => {
      const next = transitionTask(from, events[event])
      assert.isTrue(Result.isSuccess(next))
      assert.strictEqual(Result.getOrThrow(next), to)
    })
  }

  it("rejects every other (state, event) pair with InvalidTransition naming from, to and event", () => {
    let rejected = 0
    for (const state of TaskStates) {
      for (const event of Object.values(events)) {
        if (allowedMap.has(key(state, event._tag))) continue
        const next = transitionTask(state, event)
        assert.isTrue(Result.isFailure(next), `${state} + ${event._tag} should be rejected`)
        if (Result.isFailure(next)) {
          assert.strictEqual(next.failure._tag, "InvalidTransition")
          assert.strictEqual(next.failure.machine, "task")
          assert.strictEqual(next.failure.from, state)
          assert.strictEqual(next.failure.event, event._tag)
          assert.include(next.failure.message, state)
          rejected++
        }
      }
    }
    // 12 states x 19 events minus the allowed pairs
    assert.strictEqual(rejected, 12 * 19 - allowed.length)
  })

  it("names the target state of a rejected event", () => {
    const next = transitionTask("complete", events.Start)
    assert.isTrue(Result.isFailure(next))
    if (Result.isFailure(next)) assert.strictEqual(next.failure.to, "initializing")
  })

  it("terminal states accept no event at all", () => {
    for (const state of terminalTaskStates) {
      for (const event of Object.values(events)) {
        assert.isTrue(Result.isFailure(transitionTask(state, event)), `${state} + ${event._tag}`)
      }
    }
  })

  it("reaches every state from pending", () => {
    const seen = new Set<TaskState>(["pending"])
    const frontier: Array<TaskState> = ["pending"]
    while (frontier.length > 0) {
      const state = frontier.pop()!
      for (const event of Object.values(events)) {
        const next = transitionTask(state, event)
        if (Result.isSuccess(next) && !seen.has(next.success)) {
          seen.add(next.success)
          frontier.push(next.success)
        }
      }
    }
    assert.deepStrictEqual([...seen].sort(), [...TaskStates].sort())
  })
})
