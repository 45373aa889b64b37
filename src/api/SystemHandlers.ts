/**
 * Handlers of the `system` group: `/health`, `/live` and `/ready` (the database answers, and this process's engine
 * processor is registered, running and heartbeating).
 */
import { Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SqlClient, SqlSchema } from "effect/sql"
import { EngineConfig } from "../config/EngineConfig.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import { Api } from "./Api.ts"
import { ApiServiceUnavailable, type ReadinessCheck } from "./Errors.ts"

const ProcessorStatus = Schema.Struct({ running: Schema.Boolean, heartbeat_age_seconds: Schema.Number })

export const SystemHandlers = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function*(handlers) {
    const sql = yield* SqlClient.SqlClient
    const processor = yield* CurrentProcessor
    const settings = yield* EngineConfig

    const processorStatus = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: ProcessorStatus,
      execute: (uuid) =>
        sql`SELECT stopped_at IS NULL AS running,
                   extract(epoch FROM now() - last_heartbeat_at)::float8 AS heartbeat_age_seconds
            FROM tasker_processors WHERE processor_uuid = ${uuid}::uuid`
    })

    /** Runs a check with a deadline; any failure (or the deadline) marks it failed with a message. */
    const timed = (check: Effect.Effect<string | undefined, string>) =>
      Effect.gen(function*() {
        const started = Date.now()
        const outcome = yield* check.pipe(
          Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail("timed out after 2 s") }),
          Effect.result
        )
        const duration_ms = Date.now() - started
        return outcome._tag === "Success"
          ? { status: "ok" as const, duration_ms, ...(outcome.success === undefined ? {} : { message: outcome.success }) }
          : { status: "failed" as const, duration_ms, message: outcome.failure }
      })

    const database = sql`SELECT 1 AS ok`.pipe(
      Effect.as(undefined),
      Effect.mapError((e) => `database query failed: ${e.message}`)
    )
    const engine = processorStatus(processor.processorUuid).pipe(
      Effect.mapError((e) => `processor lookup failed: ${e.message}`),
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(`processor ${processor.processorUuid} is not registered`),
        onSome: (p) =>
          !p.running
            ? Effect.fail(`processor ${processor.processorUuid} is marked stopped`)
            : p.heartbeat_age_seconds > settings.staleAfterSeconds
            ? Effect.fail(`processor heartbeat is ${Math.round(p.heartbeat_age_seconds)} s old`)
            : Effect.succeed(`processor ${processor.processorUuid} (${processor.role})`)
      }))
    )

    return handlers.handleAll({
      health: () => Effect.sync(() => ({ status: "healthy" as const, timestamp: new Date() })),
      live: () => Effect.sync(() => ({ status: "alive" as const, timestamp: new Date() })),
      ready: Effect.fn("Api.system.ready")(function*() {
        const [db, eng] = yield* Effect.all([timed(database), timed(engine)], { concurrency: 2 })
        const checks: Record<string, ReadinessCheck> = { database: db, engine: eng }
        if (db.status === "ok" && eng.status === "ok") {
          return { status: "ready" as const, timestamp: new Date(), checks }
        }
        return yield* new ApiServiceUnavailable({
          error: { code: "SERVICE_UNAVAILABLE", message: "not ready" },
          checks
        })
      })
    })
  })
)
