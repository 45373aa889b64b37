/**
 * The one classification of database failures. A `SqlError` keeps its `reason` (`ConnectionError`,
 * `DeadlockError`, `ConstraintError`, …, classified by the driver from the SQLSTATE); this module answers the
 * questions the engine asks of it — did the connection fail, may the caller simply retry — for the API (503
 * against 500), the metrics (`tasker.db.connection.errors.total`) and the message queue alike.
 */
import { Predicate } from "effect"
import { SqlError } from "effect/sql"

/** SQLSTATEs outside class 08 that mean the server ended the session: admin/crash shutdown, cannot connect now. */
const SESSION_ENDED: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03"])

/**
 * SQLSTATE 55000 (object not in prerequisite state) at connection: the database does not accept connections now
 * (`ALLOW_CONNECTIONS false`, being dropped or created). The same code has other meanings inside a session, so
 * only this message counts.
 */
const NOT_ACCEPTING = /is not currently accepting connections/

/** Failures that are not about the connection but go away when the same request is simply tried again. */
const RETRYABLE_REASONS: ReadonlySet<string> = new Set([
  "DeadlockError",
  "SerializationError",
  "LockTimeoutError",
  "StatementTimeoutError"
])

/** The SQLSTATE or system error code (`23505`, `ECONNREFUSED`, …) behind a database failure, if it has one. */
const sqlStateOf = (error: SqlError.SqlError): string | undefined => {
  const cause = error.reason.cause
  return Predicate.hasProperty(cause, "code") && typeof cause.code === "string" && cause.code !== ""
    ? cause.code
    : undefined
}

/**
 * The `error_type` of a connection failure, or `undefined` when `error` is not one. A connection failure is a
 * `SqlError` whose reason is `ConnectionError` (SQLSTATE class 08, or a socket or connect error) or whose
 * SQLSTATE says the server ended the session or the database does not accept connections now (55000). The type is the SQLSTATE or system error code (`08006`,
 * `57P01`, `ECONNREFUSED`, …), else `connection_error`.
 */
export const connectionErrorType = (error: unknown): string | undefined => {
  if (!SqlError.isSqlError(error)) return undefined
  const code = sqlStateOf(error)
  if (error.reason._tag === "ConnectionError") return code ?? "connection_error"
  if (code === "55000") {
    const cause = error.reason.cause
    const message = Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? cause.message : ""
    return NOT_ACCEPTING.test(message) ? code : undefined
  }
  return code !== undefined && SESSION_ENDED.has(code) ? code : undefined
}

/**
 * A database failure the caller should simply retry: the connection is gone or cannot be opened (the database is
 * restarting, the backend was terminated), a deadlock, a serialization conflict, a lock or statement timeout.
 * Nothing was committed by the statement that failed.
 */
export const isTransient = (error: unknown): error is SqlError.SqlError =>
  SqlError.isSqlError(error) && (connectionErrorType(error) !== undefined || RETRYABLE_REASONS.has(error.reason._tag))

/** A constraint of the schema refused the write (SQLSTATE class 23: unique, foreign key, check, no partition). */
export const isConstraintViolation = (error: SqlError.SqlError): boolean =>
  error.reason._tag === "ConstraintError" || error.reason._tag === "UniqueViolation"
