/**
 * The engine's typed errors as API errors, in one place: what is not found is a 404 naming the field, a state that
 * does not allow an action a 409, a bad request a 400 (422 for a context that does not match the template), and a
 * database failure a 503 when the client may simply retry it (`isTransient`: connection lost, deadlock, lock or
 * statement timeout; nothing was committed, a request's writes are one transaction), else a 500.
 */
import { Effect } from "effect"
import type { SqlError } from "effect/sql"
import { isTransient } from "../db/SqlErrors.ts"
import type { InvalidTransition, NotFound, OwnershipConflict, StaleState } from "../domain/Errors.ts"
import type { InvalidTaskRequest } from "../tasks/TaskInitializer.ts"
import type { InvalidStoredTemplate, StoredTemplate, TemplateNotFound } from "../workflow/TemplateRegistry.ts"
import {
  ApiBadRequest,
  ApiConflict,
  ApiInternalError,
  ApiNotFound,
  ApiServiceUnavailable,
  ApiValidationError
} from "./Errors.ts"

export const notFound = (e: NotFound) =>
  ApiNotFound.of(e.message, e.entity === "task" ? "task_uuid" : e.entity === "step" ? "step_uuid" : undefined)

export const conflict = (e: InvalidTransition | StaleState | OwnershipConflict) => ApiConflict.of(e.message)

/** A database failure: 503 when the client may retry the request as it is, else 500 (logged, no details). */
export const sqlFailure = (e: SqlError.SqlError): Effect.Effect<never, ApiServiceUnavailable | ApiInternalError> =>
  isTransient(e)
    ? Effect.logWarning("request failed: database unavailable", { reason: e.reason._tag }).pipe(
      Effect.andThen(Effect.fail(ApiServiceUnavailable.of(`the database is unavailable (${e.reason._tag}); retry the request`)))
    )
    : Effect.logError("request failed: database error", e).pipe(Effect.andThen(Effect.fail(ApiInternalError.of())))

/** Names the first coordinate that matches nothing stored: `namespace`, else `name`, else `version`. */
export const templateNotFound = (e: TemplateNotFound, stored: ReadonlyArray<StoredTemplate>) => {
  const inNamespace = stored.filter((t) => t.namespace === e.namespace)
  const field = inNamespace.length === 0
    ? "namespace"
    : inNamespace.some((t) => t.name === e.name)
    ? "version"
    : "name"
  return ApiNotFound.of(e.message, field)
}

/**
 * A stored template whose step graph is broken (a cycle, an unknown dependency: `TemplateRegistry.resolve` refuses
 * it before anything is written) is a 409: the request is fine, the template is not, and no task can be created
 * from it until it is registered again.
 */
export const invalidStoredTemplate = (e: InvalidStoredTemplate) =>
  ApiConflict.of(`${e.message} (register a fixed version of the template)`)

/** A request refused by the engine: 422 when its context does not match the template (in a batch too), else 400. */
export const invalidTaskRequest = (e: InvalidTaskRequest) =>
  /^(tasks\.\d+\.)?context(\.|$)/.test(e.field)
    ? ApiValidationError.of(e.message, e.field)
    : ApiBadRequest.of(e.message, e.field)
