/**
 * The step enqueuer: moves a task's ready steps to `enqueued` and sends one message per step to the task
 * namespace's worker queue, in one transaction (`tasker_enqueue_ready_steps`), so a crash can never leave a step
 * enqueued without its message. Evaluation calls it inside its own transaction; this service exposes it on its
 * own for operators and tests.
 */
import { Context, Effect, Layer } from "effect"
import type { SqlError } from "effect/sql"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { EngineFunctions } from "./EngineFunctions.ts"

export class StepEnqueuer extends Context.Service<StepEnqueuer, {
  readonly enqueueReadySteps: (taskUuid: TaskUuid) => Effect.Effect<ReadonlyArray<StepUuid>, SqlError.SqlError>
}>()("tasker/orchestration/StepEnqueuer") {
  static readonly layer = Layer.effect(
    StepEnqueuer,
    Effect.gen(function*() {
      const engine = yield* EngineFunctions
      const processor = yield* CurrentProcessor
      return StepEnqueuer.of({
        enqueueReadySteps: (taskUuid) =>
          engine.enqueueReadySteps(taskUuid, processor.processorUuid).pipe(
            Effect.withSpan("StepEnqueuer.enqueueReadySteps")
          )
      })
    })
  )
}
