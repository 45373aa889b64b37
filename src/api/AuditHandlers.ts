/** Handlers of the `audit` group: `GET /v1/audit`, the operator audit trail (admin scope, `Access.ts`). */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { AuditTrail } from "../db/AuditTrail.ts"
import { Api } from "./Api.ts"
import { sqlFailure } from "./ErrorMapping.ts"
import { paginationView, requestedPage } from "./Views.ts"

export const AuditHandlers = HttpApiBuilder.group(
  Api,
  "audit",
  Effect.fn(function*(handlers) {
    const audit = yield* AuditTrail
    return handlers.handleAll({
      list: Effect.fn("Api.audit.list")(function*({ query }) {
        const requested = requestedPage(query)
        const result = yield* audit.list({
          taskUuid: query.task_uuid,
          keyId: query.key_id,
          action: query.action,
          since: query.since
        }, requested).pipe(Effect.catchTag("SqlError", sqlFailure))
        return {
          entries: result.entries.map((e) => ({ ...e, details: e.details as never })),
          pagination: paginationView(requested, result.totalCount)
        }
      })
    })
  })
)
