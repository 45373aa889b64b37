/**
 * Handlers of the `dashboard` group (issue 15).
 */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "./Api.ts"

const pending = Effect.die(new Error("not implemented yet"))

export const DashboardHandlers = HttpApiBuilder.group(
  Api,
  "dashboard",
  Effect.fn(function*(handlers) {
    return handlers.handleAll({
      overview: () => pending,
      dag: () => pending,
      timeline: () => pending,
      transitions: () => pending,
      deadLetters: () => pending,
      redrive: () => pending,
      discard: () => pending,
      template: () => pending,
      uiConfig: () => pending,
      events: () => pending
    })
  })
)
