/**
 * What a step handler receives: the task's context (its input), the step's own inputs, its parents' results (and
 * any other ancestor's on demand), and the correlation IDs of the task.
 */
import { Effect, Schema } from "effect"
import type { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { StepError } from "./StepError.ts"

export interface StepContext<Input = unknown> {
  readonly taskUuid: TaskUuid
  readonly stepUuid: StepUuid
  readonly namespace: string
  readonly taskName: string
  readonly taskVersion: string
  readonly stepName: string
  /** 1 for the first attempt */
  readonly attempt: number
  readonly maxAttempts: number
  /** the task's context, decoded with the template's input schema */
  readonly context: Input
  /** the step's `inputs` from the template (handler initialization), or null */
  readonly inputs: Schema.Json
  readonly correlationId: string
  readonly parentCorrelationId: string | null
  /** the results of the step's parents (the steps it depends on directly), by step name, as stored (JSON) */
  readonly dependencyResults: Readonly<Record<string, Schema.Json>>
  /**
   * The result of ancestor step `stepName` (a parent, or any step further up: those are read on first use, one
   * query for all of them), decoded with `schema` (its JSON form). A missing result is a retryable
   * `MISSING_DEPENDENCY` failure; a result that does not decode is a permanent one.
   */
  readonly dependency: <S extends Schema.Top>(
    stepName: string,
    schema: S
  ) => Effect.Effect<S["Type"], StepError, S["DecodingServices"]>
}

/**
 * `StepContext.dependency` over the parents' `results`; `ancestors` (when given) loads every ancestor's result, for a
 * name that is not a parent's. Run it once per step at most: cache it (`Effect.cached`).
 */
export const makeDependencyReader = (
  results: Readonly<Record<string, Schema.Json>>,
  ancestors?: Effect.Effect<Readonly<Record<string, Schema.Json>>, StepError>
): StepContext["dependency"] =>
<S extends Schema.Top>(stepName: string, schema: S) => {
  const result: Effect.Effect<Schema.Json, StepError> = stepName in results
    ? Effect.succeed(results[stepName]!)
    : Effect.flatMap(ancestors ?? Effect.succeed<Readonly<Record<string, Schema.Json>>>({}), (all) =>
      stepName in all
        ? Effect.succeed(all[stepName]!)
        : Effect.fail(
          StepError.retryable(`no result from step ${stepName}`, { code: "MISSING_DEPENDENCY", errorType: "DependencyError" })
        ))
  return Effect.flatMap(result, (json) =>
    Schema.decodeUnknownEffect(Schema.toCodecJson(schema))(json).pipe(
      Effect.mapError((error) =>
        StepError.permanent(`result of step ${stepName} does not match the expected shape: ${error.message}`, {
          code: "INVALID_DEPENDENCY_RESULT",
          errorType: "DependencyError"
        })
      )
    )) as Effect.Effect<S["Type"], StepError, S["DecodingServices"]>
}
