/** Handlers of the `audit` group: `GET /v1/audit`, the operator audit trail (admin scope, `Access.ts`). */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { AuditTrail } from "../db/AuditTrail.ts"
import { Api } from "./Api.ts"
import { sqlFailure } from "./ErrorMapping.ts"
import { DEFAULT_PER_PAGE } from "./Models.ts"

export const AuditHandlers = HttpApiBuilder.group(
  Api,
  "audit",
  Effect.fn(function*(handlers) {
    const audit = yield* AuditTrail
    return handlers.handleAll({
      list: Effect.fn("Api.audit.list")(function*({ query }) {
        const page = query.page ?? 1
        const perPage = query.per_page ?? DEFAULT_PER_PAGE
        const result = yield* audit.list({
          taskUuid: query.task_uuid,
          keyId: query.key_id,
          action: query.action,
          since: query.since
        }, { page, perPage }).pipe(Effect.catchTag("SqlError", sqlFailure))
        const totalPages = Math.ceil(result.totalCount / perPage)
        return {
          entries: result.entries.map((e) => ({ ...e, details: e.details as never })),
          pagination: {
            page,
            per_page: perPage,
            total_count: result.totalCount,
            total_pages: totalPages,
            has_next: page < totalPages,
            has_previous: page > 1
          }
        }
      })
    })
  })
)
