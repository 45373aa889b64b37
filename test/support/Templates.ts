/**
 * Workflow templates the tests share, each defined once. The test state their handlers read or record lives here
 * too: which tasks an operator has fixed and the gates a test holds steps at (by task uuid, so tests do not see
 * each other's), and which worker ran which step of the counted templates (a test using them clears it first).
 */
import { Deferred, Effect, Predicate, Schema } from "effect"
import { CurrentProcessor } from "../../src/db/Processors.ts"
import type { StepContext } from "../../src/workflow/StepContext.ts"
import { StepError } from "../../src/workflow/StepError.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"

/** Tasks whose failing step an "operator" has fixed: the `fragile` handler succeeds for them from then on. */
export const fixed = new Set<string>()

/**
 * `<namespace>/fragile@1.0.0`: first → breaks (fails permanently with VALIDATION_ERROR until its task is in
 * `fixed`, then returns 2) → last (breaks × 10).
 */
export const fragileWorkflow = (namespace: string) =>
  Workflow.make({ namespace, name: "fragile", version: "1.0.0", identityStrategy: "always_unique" })
    .step("first", { run: () => Effect.succeed(1) })
    .step("breaks", {
      dependsOn: ["first"],
      run: (ctx) =>
        fixed.has(ctx.taskUuid)
          ? Effect.succeed(2)
          : Effect.fail(StepError.permanent("the input is wrong", { code: "VALIDATION_ERROR" }))
    })
    .step("last", {
      dependsOn: ["breaks"],
      run: (ctx) => ctx.dependency("breaks", Schema.Number).pipe(Effect.map((n) => n * 10))
    })

/** Gates by task uuid: the first attempt of a `gated` task's `wait` step waits at its task's gate until it opens. */
export const gates = new Map<string, Deferred.Deferred<void>>()

/**
 * A closed gate registered under a new key: `context` goes into the task's context, so that the handler finds the
 * gate even when the step starts before `createTask` answers (a root handed to this process's worker).
 */
export const newGate = Effect.map(Deferred.make<void>(), (gate) => {
  const key = crypto.randomUUID()
  gates.set(key, gate)
  return { gate, context: { gate: key } }
})

/**
 * `<namespace>/<name>@1.0.0`: wait (its first attempt waits at the task's gate in `gates`, if the test set one;
 * returns `{ attempt }`) → after (returns "after"). A test knows a step is running and decides when it may finish.
 * The gate is found by the task's uuid, or by the task context's `gate` key: a test whose process runs the worker
 * sets the gate before creating the task, whose root step may start before `createTask` returns (LocalHandoff).
 */
export const gatedWorkflow = (namespace: string, name = "gated") =>
  Workflow.make({ namespace, name, version: "1.0.0", identityStrategy: "always_unique" })
    .step("wait", {
      run: (ctx) =>
        Effect.gen(function*() {
          const key = Predicate.isObject(ctx.context) && "gate" in ctx.context ? String(ctx.context.gate) : undefined
          const gate = gates.get(ctx.taskUuid) ?? (key === undefined ? undefined : gates.get(key))
          if (ctx.attempt === 1 && gate !== undefined) yield* Deferred.await(gate)
          return { attempt: ctx.attempt }
        })
    })
    .step("after", { dependsOn: ["wait"], run: () => Effect.succeed("after") })

/** Successful handler runs per step uuid of the counted templates (must end at exactly 1 for every step). */
export const successes = new Map<string, number>()
/** The processors (workers) that ran steps of the counted templates. */
export const workersSeen = new Set<string>()

/**
 * The counted templates' handler: a deterministic tenth of the steps (by uuid) fail once, retryably, to exercise
 * retries across processes; the others count their success and note their worker. Returns the number of results
 * the step depends on.
 */
const countedWork = (ctx: StepContext<unknown>) =>
  Effect.gen(function*() {
    if (ctx.attempt === 1 && parseInt(ctx.stepUuid.slice(-2), 16) % 10 === 0) {
      return yield* StepError.retryable("transient")
    }
    workersSeen.add((yield* CurrentProcessor).processorUuid)
    successes.set(ctx.stepUuid, (successes.get(ctx.stepUuid) ?? 0) + 1)
    return Object.keys(ctx.dependencyResults).length
  })

const retry = { backoff: "none" as const, maxAttempts: 3 }

/** `concurrency/linear@1.0.0`: a → b → c → d, counted (`successes`, `workersSeen`). */
export const CountedLinear = Workflow.make({ namespace: "concurrency", name: "linear", version: "1.0.0", identityStrategy: "always_unique" })
  .step("a", { retry, run: countedWork })
  .step("b", { retry, dependsOn: ["a"], run: countedWork })
  .step("c", { retry, dependsOn: ["b"], run: countedWork })
  .step("d", { retry, dependsOn: ["c"], run: countedWork })

/** `concurrency/diamond@1.0.0`: start → left, right → end, counted (`successes`, `workersSeen`). */
export const CountedDiamond = Workflow.make({ namespace: "concurrency", name: "diamond", version: "1.0.0", identityStrategy: "always_unique" })
  .step("start", { retry, run: countedWork })
  .step("left", { retry, dependsOn: ["start"], run: countedWork })
  .step("right", { retry, dependsOn: ["start"], run: countedWork })
  .step("end", { retry, dependsOn: ["left", "right"], run: countedWork })
