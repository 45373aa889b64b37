import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  type StepEvent,
  type StepEventTag,
  type StepState,
  StepStates,
  terminalStepStates,
  transitionStep
} from "../../src/domain/StepStateMachine.ts"

const events: { readonly [K in StepEventTag]: Extract<StepEvent, { _tag: K }> } = {
  Enqueue: { _tag: "Enqueue" },
  Start: { _tag: "Start" },
  Reclaim: { _tag: "Reclaim" },
  Release: { _tag: "Release" },
  EnqueueForOrchestration: { _tag: "EnqueueForOrchestration" },
  EnqueueAsErrorForOrchestration: { _tag: "EnqueueAsErrorForOrchestration" },
  Complete: { _tag: "Complete" },
  WaitForRetry: { _tag: "WaitForRetry", message: "timeout" },
  Fail: { _tag: "Fail", message: "bad input" },
  Retry: { _tag: "Retry" },
  Cancel: { _tag: "Cancel", reason: "task cancelled" },
  ResolveManually: { _tag: "ResolveManually", resolvedBy: "ops", reason: "done by hand" }
}

const nonTerminal = StepStates.filter((s) => !terminalStepStates.has(s))

const allowed: ReadonlyArray<readonly [StepState, StepEventTag, StepState]> = [
  ["pending", "Enqueue", "enqueued"],
  ["enqueued", "Start", "in_progress"],
  // a hand-off: the worker that completed the step's last parent claims it at once
  ["pending", "Start", "in_progress"],
  ["in_progress", "Reclaim", "in_progress"],
  ["in_progress", "Release", "enqueued"],
  ["in_progress", "EnqueueForOrchestration", "enqueued_for_orchestration"],
  ["in_progress", "EnqueueAsErrorForOrchestration", "enqueued_as_error_for_orchestration"],
  ["enqueued_for_orchestration", "Complete", "complete"],
  ["enqueued_as_error_for_orchestration", "WaitForRetry", "waiting_for_retry"],
  ["enqueued_as_error_for_orchestration", "Fail", "error"],
  // a worker applying its own result
  ["in_progress", "Complete", "complete"],
  ["in_progress", "WaitForRetry", "waiting_for_retry"],
  ["in_progress", "Fail", "error"],
  ["pending", "Fail", "error"],
  ["enqueued", "Fail", "error"],
  ["waiting_for_retry", "Retry", "pending"],
  ["error", "Retry", "pending"],
  ...nonTerminal.map((s) => [s, "Cancel", "cancelled"] as const),
  ...nonTerminal.map((s) => [s, "ResolveManually", "resolved_manually"] as const)
]

const key = (state: string, event: string) => `${state}/${event}`
const allowedMap = new Map(allowed.map(([from, event, to]) => [key(from, event), to]))

describe("step state machine", () => {
  it("has the 10 states of the reference", () => {
    assert.strictEqual(StepStates.length, 10)
  })

  it("error is not terminal; complete, cancelled and resolved_manually are", () => {
    assert.deepStrictEqual([...terminalStepStates].sort(), ["cancelled", "complete", "resolved_manually"])
  })

  for (const [from, event, to] of allowed) {
    it(`${from} --${event}--> ${to}`, () => {
      const next = transitionStep(from, events[event])
      assert.strictEqual(Result.getOrThrow(next), to)
    })
  }

  it("rejects every other (state, event) pair with InvalidTransition", () => {
    let rejected = 0
    for (const state of StepStates) {
      for (const event of Object.values(events)) {
        if (allowedMap.has(key(state, event._tag))) continue
        const next = transitionStep(state, event)
        assert.isTrue(Result.isFailure(next), `${state} + ${event._tag} should be rejected`)
        if (Result.isFailure(next)) {
          assert.strictEqual(next.failure._tag, "InvalidTransition")
          assert.strictEqual(next.failure.machine, "step")
          assert.strictEqual(next.failure.from, state)
          assert.strictEqual(next.failure.event, event._tag)
          rejected++
        }
      }
    }
    assert.strictEqual(rejected, 10 * 12 - allowed.length)
  })

  it("a completed step cannot be resolved manually or retried", () => {
    assert.isTrue(Result.isFailure(transitionStep("complete", events.ResolveManually)))
    assert.isTrue(Result.isFailure(transitionStep("complete", events.Retry)))
  })

  it("reaches every state from pending", () => {
    const seen = new Set<StepState>(["pending"])
    const frontier: Array<StepState> = ["pending"]
    while (frontier.length > 0) {
      const state = frontier.pop()!
      for (const event of Object.values(events)) {
        const next = transitionStep(state, event)
        if (Result.isSuccess(next) && !seen.has(next.success)) {
          seen.add(next.success)
          frontier.push(next.success)
        }
      }
    }
    assert.deepStrictEqual([...seen].sort(), [...StepStates].sort())
  })
})
