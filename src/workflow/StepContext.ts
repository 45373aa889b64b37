/**
 * What a step handler receives: the task's context (its input), the step's own inputs, its parents' results (and
 * any other ancestor's on demand), and the correlation IDs of the task.
 */
import { type Context, Effect, Schema } from "effect"
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

/** Fields of a log line (`ctx.log.info("charged", { amount_cents: 500 })`): they become the line's fields. */
export type LogFields = Readonly<Record<string, unknown>>

/**
 * The logger of a plain-async handler (`fromPromise`): each call writes one line through the engine's Effect logger,
 * at once and synchronously, with what an Effect handler's `Effect.log*` lines carry — the task's correlation IDs,
 * `task_uuid`, `step_uuid`, `namespace`, `step_name`, and the trace and span IDs of the step's handler span.
 * Levels below the minimum log level (`LOG_LEVEL`) are dropped.
 */
export interface StepLogger {
  readonly debug: (message: string, fields?: LogFields) => void
  readonly info: (message: string, fields?: LogFields) => void
  readonly warn: (message: string, fields?: LogFields) => void
  readonly error: (message: string, fields?: LogFields) => void
}

/** What a plain-async handler (`fromPromise`) receives: the step's context and a logger. */
export interface PromiseStepContext<Input = unknown> extends StepContext<Input> {
  readonly log: StepLogger
}

/**
 * A `StepLogger` that logs in `context` (the handler's: its annotations, span, loggers and minimum level), as
 * `Effect.log*(message, fields)` would there.
 */
export const makeStepLogger = (context: Context.Context<never>): StepLogger => {
  const run = Effect.runSyncWith(context)
  const at = (level: "Debug" | "Info" | "Warn" | "Error") => {
    const log = Effect.logWithLevel(level)
    return (message: string, fields?: LogFields): void =>
      run(fields === undefined ? log(message) : log(message, fields))
  }
  return { debug: at("Debug"), info: at("Info"), warn: at("Warn"), error: at("Error") }
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
