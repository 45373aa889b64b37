/**
 * The task evaluator: evaluates a task this processor owns (a claimed or taken-over task) and moves it on by its
 * execution status — enqueue ready steps, complete it, block it on failures, or park it waiting for retries or
 * dependencies (`tasker_evaluate_task`). Result processing runs the same evaluation inside its own transaction.
 */
import { Context, Effect, Layer } from "effect"
import type { SqlError } from "effect/sql"
import type { TaskUuid } from "../domain/Ids.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { EngineConfig } from "../config/EngineConfig.ts"
import { EngineFunctions, type EvaluationRow } from "../db/EngineFunctions.ts"

export class TaskEvaluator extends Context.Service<TaskEvaluator, {
  /** undefined for an unknown task */
  readonly evaluate: (taskUuid: TaskUuid) => Effect.Effect<EvaluationRow | undefined, SqlError.SqlError>
}>()("tasker/orchestration/TaskEvaluator") {
  static readonly layer = Layer.effect(
    TaskEvaluator,
    Effect.gen(function*() {
      const engine = yield* EngineFunctions
      const processor = yield* CurrentProcessor
      return TaskEvaluator.of({
        evaluate: Effect.fn("TaskEvaluator.evaluate")(function*(taskUuid: TaskUuid) {
          const config = yield* EngineConfig
          return yield* engine.evaluateTask(taskUuid, processor.processorUuid, {
            staleAfterSeconds: config.staleAfterSeconds
          })
        })
      })
    })
  )
}
