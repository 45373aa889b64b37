/**
 * What a step handler receives: the task's context (its input), the step's own inputs, the results of every
 * ancestor step, and the correlation IDs of the task.
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
  /** the results of all ancestor steps (not only the parents), by step name, as stored (JSON) */
  readonly dependencyResults: Readonly<Record<string, Schema.Json>>
  /**
   * The result of ancestor step `stepName`, decoded with `schema` (its JSON form). A missing result is a retryable
   * `MISSING_DEPENDENCY` failure; a result that does not decode is a permanent one.
   */
  readonly dependency: <S extends Schema.Top>(
    stepName: string,
    schema: S
  ) => Effect.Effect<S["Type"], StepError, S["DecodingServices"]>
}

export const makeDependencyReader = (results: Readonly<Record<string, Schema.Json>>): StepContext["dependency"] =>
  <S extends Schema.Top>(stepName: string, schema: S) => {
    if (!(stepName in results)) {
      return Effect.fail(
        StepError.retryable(`no result from step ${stepName}`, { code: "MISSING_DEPENDENCY", errorType: "DependencyError" })
      )
    }
    return Schema.decodeUnknownEffect(Schema.toCodecJson(schema))(results[stepName]).pipe(
      Effect.mapError((error) =>
        StepError.permanent(`result of step ${stepName} does not match the expected shape: ${error.message}`, {
          code: "INVALID_DEPENDENCY_RESULT",
          errorType: "DependencyError"
        })
      )
    ) as Effect.Effect<S["Type"], StepError, S["DecodingServices"]>
  }
