/**
 * The queue operations the engine needs, behind a small backend-neutral service, and its PostgreSQL
 * implementation (migrations/0006_queue.sql: one partition per queue, PGMQ semantics, `FOR UPDATE SKIP LOCKED`
 * reads, an archive per queue, NOTIFY on send in the sending transaction).
 *
 * Queue names: `orchestration_step_results_queue` (workers → orchestrators) and `worker_<namespace>_queue`
 * (orchestrators → workers), see `Channels.ts`. The engine's hot paths use fused SQL functions that read, claim and
 * send in one transaction (see `src/db/EngineFunctions.ts`); this service is the general API around them.
 *
 * Metrics (attribute `queue`): `send`/`sendBatch` record `tasker.messages.sent.total` (per message),
 * `tasker.message.send.duration` and, on failure, `tasker.messages.send_failures.total` (per message, `error_type`
 * `queue_not_found` or the `SqlError` reason); `archive` records `tasker.message.archive.duration` and
 * `tasker.messages.archived.total` (`reason` `archived` or `dead_lettered`); `read` records
 * `tasker.message.receive.duration`, `tasker.messages.received.total` and `tasker.message.latency`. Sends and
 * archives inside the engine's SQL functions are not recorded here: they are part of those calls' durations.
 */
import { Context, Effect, Exit, Layer, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"
import { isConstraintViolation } from "../db/SqlErrors.ts"
import * as Metrics from "../telemetry/Metrics.ts"

export const QueueMessage = Schema.Struct({
  msg_id: Schema.BigInt,
  read_ct: Schema.Int,
  enqueued_at: Schema.Date,
  vt: Schema.Date,
  message: Schema.Json,
  headers: Schema.Json
})
export type QueueMessage = typeof QueueMessage.Type

export const QueueMetrics = Schema.Struct({
  queue_name: Schema.String,
  queue_length: Schema.BigInt,
  visible_length: Schema.BigInt,
  oldest_msg_age_seconds: Schema.NullOr(Schema.Number),
  archived_count: Schema.BigInt,
  dead_letter_count: Schema.BigInt
})
export type QueueMetrics = typeof QueueMetrics.Type

export class QueueNotFound extends Schema.TaggedError<QueueNotFound>()("QueueNotFound", { queue: Schema.String }) {
  override get message(): string {
    return `queue not found: ${this.queue}`
  }
}

export class InvalidQueueName extends Schema.TaggedError<InvalidQueueName>()("InvalidQueueName", { queue: Schema.String }) {
  override get message(): string {
    return `invalid queue name "${this.queue}": use 1-54 characters a-z, 0-9 and _`
  }
}

export interface SendOptions {
  readonly headers?: Schema.Json | undefined
  /** the message becomes visible after this many seconds */
  readonly delaySeconds?: number | undefined
}

export interface ArchiveOptions {
  readonly reason?: string | undefined
  /** a dead letter: the message could not be handled (kept with its reason) */
  readonly deadLetter?: boolean | undefined
}

export class MessageQueue extends Context.Service<MessageQueue, {
  /** Creates a queue (idempotent). */
  readonly createQueue: (queue: string) => Effect.Effect<void, InvalidQueueName | SqlError.SqlError>
  readonly send: (
    queue: string,
    message: Schema.Json,
    options?: SendOptions
  ) => Effect.Effect<bigint, QueueNotFound | SqlError.SqlError>
  readonly sendBatch: (
    queue: string,
    messages: ReadonlyArray<{ readonly message: Schema.Json; readonly headers?: Schema.Json | undefined }>,
    options?: Omit<SendOptions, "headers">
  ) => Effect.Effect<ReadonlyArray<bigint>, QueueNotFound | SqlError.SqlError>
  /** Takes up to `quantity` visible messages and hides them for `visibilityTimeoutSeconds`. */
  readonly read: (
    queue: string,
    options: { readonly visibilityTimeoutSeconds: number; readonly quantity: number }
  ) => Effect.Effect<ReadonlyArray<QueueMessage>, SqlError.SqlError>
  readonly delete: (queue: string, msgId: bigint) => Effect.Effect<boolean, SqlError.SqlError>
  readonly archive: (queue: string, msgId: bigint, options?: ArchiveOptions) => Effect.Effect<boolean, SqlError.SqlError>
  /** Sets a message's visibility timeout from now (extend an in-flight message, or 0 to release it). */
  readonly setVisibilityTimeout: (queue: string, msgId: bigint, seconds: number) => Effect.Effect<boolean, SqlError.SqlError>
  readonly metrics: (queue: string) => Effect.Effect<QueueMetrics, SqlError.SqlError>
  /** Archived messages (dead letters only with `deadLetterOnly`), newest first. */
  readonly archived: (
    queue: string,
    options?: { readonly deadLetterOnly?: boolean; readonly limit?: number }
  ) => Effect.Effect<ReadonlyArray<ArchivedMessage>, SqlError.SqlError>
}>()("tasker/messaging/MessageQueue") {
  /** PostgreSQL implementation (needs `SqlClient`). */
  static readonly layerPostgres = Layer.effect(
    MessageQueue,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const die = <A, E, R>(self: Effect.Effect<A, E | Schema.SchemaError, R>) =>
        Effect.catchTag(self, "SchemaError", (e) => Effect.die(e)) as Effect.Effect<A, Exclude<E, Schema.SchemaError>, R>
      const missingQueue = (queue: string) => <A, R>(self: Effect.Effect<A, SqlError.SqlError, R>) =>
        Effect.catchIf(
          self,
          // the queue's partition (or its row) is missing: the insert breaks a constraint of the schema
          isConstraintViolation,
          () => Effect.fail(new QueueNotFound({ queue }))
        )

      const read = SqlSchema.findAll({
        Request: Schema.Struct({ queue: Schema.String, vt: Schema.Number, qty: Schema.Int }),
        Result: QueueMessage,
        execute: (r) => sql`SELECT * FROM tasker_read(${r.queue}, ${r.vt}::double precision, ${r.qty}::integer)`
      })
      const metrics = SqlSchema.findOne({
        Request: Schema.String,
        Result: QueueMetrics,
        execute: (queue) => sql`SELECT * FROM tasker_queue_metrics(${queue})`
      })
      const archived = SqlSchema.findAll({
        Request: Schema.Struct({ queue: Schema.String, deadLetterOnly: Schema.Boolean, limit: Schema.Int }),
        Result: ArchivedMessage,
        execute: (r) =>
          sql`SELECT msg_id, read_ct, enqueued_at, archived_at, message, headers, reason, dead_letter
              FROM tasker_queue_archive
              WHERE queue_name = ${r.queue} AND (NOT ${r.deadLetterOnly} OR dead_letter)
              ORDER BY archived_at DESC, msg_id DESC LIMIT ${r.limit}`
      })

      /** Runs `self` and hands its exit and duration (ms) to `record`. */
      const measured = <A, E, R>(
        self: Effect.Effect<A, E, R>,
        record: (exit: Exit.Exit<A, E>, ms: number) => Effect.Effect<void>
      ): Effect.Effect<A, E, R> =>
        Effect.gen(function*() {
          const started = performance.now()
          const exit = yield* Effect.exit(self)
          yield* record(exit, performance.now() - started)
          return yield* exit
        })
      const sendErrorType = (cause: { readonly _tag: string; readonly reason?: { readonly _tag: string } }) =>
        cause._tag === "QueueNotFound" ? "queue_not_found" : cause.reason?._tag ?? cause._tag
      /** The metrics of a send of `count` messages to `queue`. */
      const recordSend = (queue: string, count: number) =>
      <A>(exit: Exit.Exit<A, QueueNotFound | SqlError.SqlError>, ms: number) =>
        Effect.gen(function*() {
          const result = Exit.isSuccess(exit) ? "success" : "error"
          yield* Metrics.observeMs(Metrics.messageSendDuration, { queue, result }, ms)
          if (Exit.isSuccess(exit)) {
            if (count > 0) yield* Metrics.increment(Metrics.messagesSent, { queue }, count)
          } else {
            const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
            const errorType = failure !== undefined && failure._tag === "Fail" ? sendErrorType(failure.error) : "defect"
            yield* Metrics.increment(Metrics.messageSendFailures, { queue, error_type: errorType }, Math.max(count, 1))
          }
        })

      return MessageQueue.of({
        createQueue: Effect.fn("MessageQueue.createQueue")(function*(queue: string) {
          if (!/^[a-z0-9_]{1,54}$/.test(queue)) return yield* new InvalidQueueName({ queue })
          yield* sql`SELECT tasker_create_queue(${queue})`
        }),
        send: Effect.fn("MessageQueue.send")(function*(queue: string, message: Schema.Json, options?: SendOptions) {
          const [row] = yield* measured(
            sql<{ msg_id: bigint }>`
            SELECT tasker_send(${queue}, ${JSON.stringify(message)}::jsonb, ${JSON.stringify(options?.headers ?? {})}::jsonb,
                               ${options?.delaySeconds ?? 0}::double precision) AS msg_id`.pipe(missingQueue(queue)),
            recordSend(queue, 1)
          )
          return row!.msg_id
        }),
        sendBatch: Effect.fn("MessageQueue.sendBatch")(function*(
          queue: string,
          messages: ReadonlyArray<{ readonly message: Schema.Json; readonly headers?: Schema.Json | undefined }>,
          options?: Omit<SendOptions, "headers">
        ) {
          if (messages.length === 0) return []
          const rows = yield* measured(
            sql<{ msg_id: bigint }>`
            SELECT tasker_send_batch(${queue},
              ARRAY(SELECT jsonb_array_elements(${JSON.stringify(messages.map((m) => m.message))}::jsonb)),
              ARRAY(SELECT jsonb_array_elements(${JSON.stringify(messages.map((m) => m.headers ?? {}))}::jsonb)),
              ${options?.delaySeconds ?? 0}::double precision) AS msg_id`.pipe(missingQueue(queue)),
            recordSend(queue, messages.length)
          )
          return rows.map((r) => r.msg_id)
        }),
        read: Effect.fn("MessageQueue.read")(function*(queue: string, options: {
          readonly visibilityTimeoutSeconds: number
          readonly quantity: number
        }) {
          const started = performance.now()
          const rows = yield* die(read({ queue, vt: options.visibilityTimeoutSeconds, qty: options.quantity }))
          yield* Metrics.observeMs(Metrics.messageReceiveDuration, { queue }, performance.now() - started)
          if (rows.length > 0) {
            const now = Date.now()
            yield* Metrics.increment(Metrics.messagesReceived, { queue }, rows.length)
            for (const row of rows) yield* Metrics.observeMs(Metrics.messageLatency, { queue }, now - row.enqueued_at.getTime())
          }
          return rows
        }),
        delete: Effect.fn("MessageQueue.delete")(function*(queue: string, msgId: bigint) {
          const [row] = yield* sql<{ deleted: boolean }>`SELECT tasker_delete(${queue}, ${msgId}) AS deleted`
          return row!.deleted
        }),
        archive: Effect.fn("MessageQueue.archive")(function*(queue: string, msgId: bigint, options?: ArchiveOptions) {
          const [row] = yield* measured(
            sql<{ archived: boolean }>`
            SELECT tasker_archive(${queue}, ${msgId}, ${options?.reason ?? null}::text, ${options?.deadLetter ?? false}) AS archived`,
            (exit, ms) => Metrics.observeMs(Metrics.messageArchiveDuration, { queue, result: Exit.isSuccess(exit) ? "success" : "error" }, ms)
          )
          if (row!.archived) {
            yield* Metrics.increment(Metrics.messagesArchived, {
              queue,
              reason: options?.deadLetter === true ? "dead_lettered" : "archived"
            })
          }
          return row!.archived
        }),
        setVisibilityTimeout: Effect.fn("MessageQueue.setVisibilityTimeout")(
          function*(queue: string, msgId: bigint, seconds: number) {
            const [row] = yield* sql<{ found: boolean }>`
              SELECT tasker_set_vt(${queue}, ${msgId}, ${seconds}::double precision) AS found`
            return row!.found
          }
        ),
        metrics: Effect.fn("MessageQueue.metrics")(function*(queue: string) {
          return yield* metrics(queue).pipe(Effect.catchTag(["SchemaError", "NoSuchElementError"], (e) => Effect.die(e)))
        }),
        archived: Effect.fn("MessageQueue.archived")(function*(
          queue: string,
          options?: { readonly deadLetterOnly?: boolean; readonly limit?: number }
        ) {
          return yield* die(archived({ queue, deadLetterOnly: options?.deadLetterOnly ?? false, limit: options?.limit ?? 100 }))
        })
      })
    })
  )
}

export const ArchivedMessage = Schema.Struct({
  msg_id: Schema.BigInt,
  read_ct: Schema.Int,
  enqueued_at: Schema.Date,
  archived_at: Schema.Date,
  message: Schema.Json,
  headers: Schema.Json,
  reason: Schema.NullOr(Schema.String),
  dead_letter: Schema.Boolean
})
export type ArchivedMessage = typeof ArchivedMessage.Type
