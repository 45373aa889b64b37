/**
 * Metrics around the engine's SQL function calls: every call counts as a query and a pool checkout with its
 * duration; the fused engine functions are also their own transactions (`tasker.db.transaction.duration`); a
 * failed call counts as a database error by its `SqlError` reason.
 */
import { Effect, Exit } from "effect"
import { Predicate } from "effect"
import * as Metrics from "./Metrics.ts"

const errorType = (cause: unknown): string | undefined => {
  if (Predicate.isTagged(cause, "SqlError")) {
    const reason = (cause as { readonly reason?: { readonly _tag?: string } }).reason
    return reason?._tag ?? "SqlError"
  }
  return undefined
}

/**
 * Records `tasker.sql.queries.total`, `tasker.sql.query.duration`, `tasker.db.pool.checkouts.total` (and, with
 * `transaction`, `tasker.db.transaction.duration`) for one call of SQL function `queryType`.
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
    yield* Metrics.increment(Metrics.dbPoolCheckouts, { pool: "engine" })
    if (options.transaction === true) {
      yield* Metrics.observeMs(Metrics.dbTransactionDuration, {
        transaction_type: queryType,
        result: Exit.isSuccess(exit) ? "commit" : "rollback"
      }, ms)
    }
    if (Exit.isFailure(exit)) {
      const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
      const type = failure !== undefined && failure._tag === "Fail" ? errorType(failure.error) : undefined
      if (type !== undefined) yield* Metrics.increment(Metrics.dbConnectionErrors, { error_type: type })
    }
    return yield* exit
  })
