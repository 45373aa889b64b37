/**
 * The registry of engine processes (`tasker_processors`). A processor registers at start-up, heartbeats while it
 * runs and marks itself stopped on shutdown; a task owned by a processor whose heartbeat is stale may be taken
 * over by another one (see `transition_task_state_atomic` and `get_next_ready_tasks`).
 */
import { hostname } from "node:os"
import { Context, type Duration, Effect, Layer, Schedule } from "effect"
import { v7 as uuidv7 } from "uuid"
import { SqlClient, type SqlError } from "effect/sql"
import type { ProcessorUuid } from "../domain/Ids.ts"

export interface ProcessorRegistration {
  readonly processorUuid: ProcessorUuid
  /** what the process does: orchestrator, worker, api, … */
  readonly role: string
  readonly hostname?: string | undefined
  readonly pid?: number | undefined
}

export class Processors extends Context.Service<Processors, {
  /** Registers (or re-registers) a processor with a fresh heartbeat. */
  readonly register: (registration: ProcessorRegistration) => Effect.Effect<void, SqlError.SqlError>
  readonly heartbeat: (processorUuid: ProcessorUuid) => Effect.Effect<void, SqlError.SqlError>
  /** Marks a processor stopped: its owned tasks may be taken over at once. */
  readonly markStopped: (processorUuid: ProcessorUuid) => Effect.Effect<void, SqlError.SqlError>
}>()("tasker/db/Processors") {
  static readonly layer = Layer.effect(
    Processors,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return Processors.of({
        register: Effect.fn("Processors.register")(function*(r: ProcessorRegistration) {
          yield* sql`
            INSERT INTO tasker_processors (processor_uuid, role, hostname, pid)
            VALUES (${r.processorUuid}, ${r.role}, ${r.hostname ?? null}::varchar, ${r.pid ?? null}::integer)
            ON CONFLICT (processor_uuid) DO UPDATE
              SET role = EXCLUDED.role, hostname = EXCLUDED.hostname, pid = EXCLUDED.pid,
                  last_heartbeat_at = now(), stopped_at = NULL, updated_at = now()`
        }),
        heartbeat: Effect.fn("Processors.heartbeat")(function*(processorUuid: ProcessorUuid) {
          yield* sql`UPDATE tasker_processors SET last_heartbeat_at = now(), updated_at = now()
                     WHERE processor_uuid = ${processorUuid}`
        }),
        markStopped: Effect.fn("Processors.markStopped")(function*(processorUuid: ProcessorUuid) {
          yield* sql`UPDATE tasker_processors SET stopped_at = now(), updated_at = now()
                     WHERE processor_uuid = ${processorUuid}`
        })
      })
    })
  )
}

/**
 * This process's identity as an engine processor: a UUIDv7 chosen at start-up, registered in
 * `tasker_processors`, heartbeating while the layer lives and marked stopped when it is released.
 */
export class CurrentProcessor extends Context.Service<CurrentProcessor, {
  readonly processorUuid: ProcessorUuid
  readonly role: string
}>()("tasker/db/CurrentProcessor") {
  static readonly layer = (options: { readonly role: string; readonly heartbeatInterval?: Duration.Input }) =>
    Layer.effect(
      CurrentProcessor,
      Effect.gen(function*() {
        const processors = yield* Processors
        const processorUuid = uuidv7() as ProcessorUuid
        yield* processors.register({ processorUuid, role: options.role, hostname: hostname(), pid: process.pid })
        yield* Effect.addFinalizer(() => processors.markStopped(processorUuid).pipe(Effect.ignore))
        yield* processors.heartbeat(processorUuid).pipe(
          Effect.catchCause((cause) => Effect.logWarning("processor heartbeat failed", cause)),
          Effect.repeat(Schedule.spaced(options.heartbeatInterval ?? "10 seconds")),
          Effect.forkScoped
        )
        return CurrentProcessor.of({ processorUuid, role: options.role })
      })
    ).pipe(Layer.provide(Processors.layer))
}
