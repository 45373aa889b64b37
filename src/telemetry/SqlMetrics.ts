/**
 * Metrics around the engine's SQL function calls: every call counts as a query with its duration; the fused engine
 * functions are also their own transactions (`tasker.db.transaction.duration`); a call that failed because the
 * connection failed counts as a connection error (`tasker.db.connection.errors.total`). Other database errors
 * (constraint violations, deadlocks, timeouts, …) are only `result="error"` on the query metrics.
 *
 * Connection checkouts are not measured: `@effect/sql-pg` keeps its pool internal. A call made outside a
 * transaction borrows a pooled connection for its statement, so `tasker.sql.queries.total` is also the number of
 * checkouts those calls made.
 */
import { Effect, Exit, Predicate } from "effect"
import * as Metrics from "./Metrics.ts"

/** SQLSTATEs outside class 08 that mean the server ended the session: admin/crash shutdown, cannot connect now. */
const SESSION_ENDED = new Set(["57P01", "57P02", "57P03"])

const codeOf = (cause: unknown): string | undefined =>
  Predicate.hasProperty(cause, "code") && typeof cause.code === "string" && cause.code !== "" ? cause.code : undefined

/**
 * The `error_type` of a connection failure, or `undefined` when `error` is not one. A connection failure is a
 * `SqlError` whose reason is `ConnectionError` (SQLSTATE class 08, or a socket or connect error) or whose
 * SQLSTATE says the server ended the session. The type is the SQLSTATE or system error code (`08006`,
 * `57P01`, `ECONNREFUSED`, …), else `connection_error`.
 */
export const connectionErrorType = (error: unknown): string | undefined => {
  if (!Predicate.isTagged(error, "SqlError") || !Predicate.hasProperty(error, "reason")) return undefined
  const reason = error.reason
  if (!Predicate.isObject(reason)) return undefined
  const code = codeOf(Predicate.hasProperty(reason, "cause") ? reason.cause : undefined)
  if (Predicate.isTagged(reason, "ConnectionError")) return code ?? "connection_error"
  return code !== undefined && SESSION_ENDED.has(code) ? code : undefined
}

/**
 * Records `tasker.sql.queries.total`, `tasker.sql.query.duration` (and, with `transaction`,
 * `tasker.db.transaction.duration`) for one call of SQL function `queryType`, and
 * `tasker.db.connection.errors.total` when the call failed on its connection.
 */
export const instrumentSql = (queryType: string, options: { readonly transaction?: boolean } = {}) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const started = performance.now()
    const exit = yield* Effect.exit(self)
    const ms = performance.now() - started
    const result = Exit.isSuccess(exit) ? "success" : "error"
    yield* Metrics.increment(Metrics.sqlQueries, { query_type: queryType, result })
    yield* Metrics.observeMs(Metrics.sqlQueryDuration, { query_type: queryType, result }, ms)
    if (options.transaction === true) {
      yield* Metrics.observeMs(Metrics.dbTransactionDuration, {
        transaction_type: queryType,
        result: Exit.isSuccess(exit) ? "commit" : "rollback"
      }, ms)
    }
    if (Exit.isFailure(exit)) {
      const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
      const type = failure !== undefined && failure._tag === "Fail" ? connectionErrorType(failure.error) : undefined
      if (type !== undefined) yield* Metrics.increment(Metrics.dbConnectionErrors, { error_type: type })
    }
    return yield* exit
  })
