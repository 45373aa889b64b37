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
import { Effect, Exit } from "effect"
import * as Metrics from "../telemetry/Metrics.ts"
import { connectionErrorType } from "./SqlErrors.ts"

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
