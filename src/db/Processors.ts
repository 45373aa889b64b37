/**
 * The registry of engine processes (`tasker_processors`). A processor registers at start-up, heartbeats while it
 * runs and marks itself stopped on shutdown; a task owned by a processor whose heartbeat is stale may be taken
 * over by another one (see `transition_task_state_atomic` and `get_next_ready_tasks`). A worker also records the
 * templates it hosts (`tasker_processor_templates`), so that task creation can tell when no live worker hosts a
 * task's template (`TemplateHosting`).
 */
import { hostname } from "node:os"
import { Context, type Duration, Effect, Layer, Schedule } from "effect"
import { v7 as uuidv7 } from "uuid"
import { SqlClient, type SqlError } from "effect/sql"
import { EngineConfig } from "../config/EngineConfig.ts"
import type { NamedTaskUuid, ProcessorUuid, TaskUuid } from "../domain/Ids.ts"

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

/**
 * Which templates live workers host. A worker records the templates it hosts when it starts (`host`); a template
 * is hosted while some processor that recorded it is live (not stopped, heartbeat newer than
 * `staleAfterSeconds`).
 *
 * `unhosted` is on the task creation path, so a template found hosted is believed for `heartbeatIntervalMs`
 * without asking again: in the usual case creation costs no query at all. A template found unhosted is asked
 * about again on the next request (one indexed query per batch), so a worker that starts is seen at once. The
 * price of the cache: a worker that stops is noticed up to a heartbeat interval late (its heartbeat itself goes
 * stale only after `staleAfterSeconds`).
 */
export class TemplateHosting extends Context.Service<TemplateHosting, {
  /** Records that this process's worker hosts the templates (their `named_task_uuid`s). */
  readonly host: (namedTaskUuids: ReadonlyArray<NamedTaskUuid>) => Effect.Effect<void, SqlError.SqlError>
  /** Of `namedTaskUuids`, those that no live processor hosts. */
  readonly unhosted: (
    namedTaskUuids: ReadonlyArray<NamedTaskUuid>
  ) => Effect.Effect<ReadonlySet<NamedTaskUuid>, SqlError.SqlError>
  /** Whether no live processor hosts the template of task `taskUuid` (false for an unknown task); not cached. */
  readonly taskUnhosted: (taskUuid: TaskUuid) => Effect.Effect<boolean, SqlError.SqlError>
}>()("tasker/db/TemplateHosting") {
  static readonly layer = Layer.effect(
    TemplateHosting,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const processor = yield* CurrentProcessor
      const config = yield* EngineConfig
      const stale = config.staleAfterSeconds
      /** template → until when (ms) it is believed hosted */
      const hostedUntil = new Map<NamedTaskUuid, number>()
      const believe = (uuids: Iterable<NamedTaskUuid>) => {
        const until = Date.now() + config.heartbeatIntervalMs
        for (const uuid of uuids) hostedUntil.set(uuid, until)
      }

      const host = Effect.fn("TemplateHosting.host")(function*(namedTaskUuids: ReadonlyArray<NamedTaskUuid>) {
        if (namedTaskUuids.length === 0) return
        yield* sql`
          INSERT INTO tasker_processor_templates (named_task_uuid, processor_uuid)
          SELECT unnest(${namedTaskUuids}::uuid[]), ${processor.processorUuid}::uuid
          ON CONFLICT (named_task_uuid, processor_uuid) DO UPDATE SET updated_at = now()`
        believe(namedTaskUuids)
      })

      const unhosted = (namedTaskUuids: ReadonlyArray<NamedTaskUuid>) =>
        Effect.suspend(() => {
          const now = Date.now()
          const unknown = [...new Set(namedTaskUuids)].filter((uuid) => (hostedUntil.get(uuid) ?? 0) <= now)
          if (unknown.length === 0) return Effect.succeed(new Set<NamedTaskUuid>())
          return sql<{ named_task_uuid: NamedTaskUuid }>`
            SELECT named_task_uuid FROM tasker_unhosted_templates(${unknown}::uuid[], ${stale})`.pipe(
            Effect.map((rows) => {
              const found = new Set(rows.map((r) => r.named_task_uuid))
              believe(unknown.filter((uuid) => !found.has(uuid)))
              return found as ReadonlySet<NamedTaskUuid>
            }),
            Effect.withSpan("TemplateHosting.unhosted")
          )
        })

      const taskUnhosted = Effect.fn("TemplateHosting.taskUnhosted")(function*(taskUuid: TaskUuid) {
        const rows = yield* sql<{ named_task_uuid: string }>`
          SELECT named_task_uuid FROM tasker_unhosted_templates(
            ARRAY(SELECT named_task_uuid FROM tasker_tasks WHERE task_uuid = ${taskUuid}), ${stale})`
        return rows.length > 0
      })

      return TemplateHosting.of({ host, unhosted, taskUnhosted })
    })
  )
}
