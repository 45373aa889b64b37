/**
 * The queue operations the engine needs, behind a small backend-neutral service, and its PostgreSQL
 * implementation (migrations/0003: one partition per queue, PGMQ semantics, `FOR UPDATE SKIP LOCKED` reads, an
 * archive per queue, NOTIFY on send in the sending transaction).
 *
 * Queue names: `orchestration_step_results_queue` (workers → orchestrators) and `worker_<namespace>_queue`
 * (orchestrators → workers). The engine's hot paths use fused SQL functions that read, claim and send in one
 * transaction (see `src/orchestration/EngineFunctions.ts`); this service is the general API around them.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, SqlSchema } from "effect/sql"

export const RESULTS_QUEUE = "orchestration_step_results_queue"

/** The queue a namespace's step messages go to. */
export const workerQueueName = (namespace: string): string => `worker_${namespace}_queue`

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
          (e) => e.reason._tag === "ConstraintError" || /no partition/.test(String(e.reason.cause)),
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

      return MessageQueue.of({
        createQueue: Effect.fn("MessageQueue.createQueue")(function*(queue: string) {
          if (!/^[a-z0-9_]{1,54}$/.test(queue)) return yield* new InvalidQueueName({ queue })
          yield* sql`SELECT tasker_create_queue(${queue})`
        }),
        send: Effect.fn("MessageQueue.send")(function*(queue: string, message: Schema.Json, options?: SendOptions) {
          const [row] = yield* sql<{ msg_id: bigint }>`
            SELECT tasker_send(${queue}, ${JSON.stringify(message)}::jsonb, ${JSON.stringify(options?.headers ?? {})}::jsonb,
                               ${options?.delaySeconds ?? 0}::double precision) AS msg_id`.pipe(missingQueue(queue))
          return row!.msg_id
        }),
        sendBatch: Effect.fn("MessageQueue.sendBatch")(function*(
          queue: string,
          messages: ReadonlyArray<{ readonly message: Schema.Json; readonly headers?: Schema.Json | undefined }>,
          options?: Omit<SendOptions, "headers">
        ) {
          if (messages.length === 0) return []
          const rows = yield* sql<{ msg_id: bigint }>`
            SELECT tasker_send_batch(${queue},
              ARRAY(SELECT jsonb_array_elements(${JSON.stringify(messages.map((m) => m.message))}::jsonb)),
              ARRAY(SELECT jsonb_array_elements(${JSON.stringify(messages.map((m) => m.headers ?? {}))}::jsonb)),
              ${options?.delaySeconds ?? 0}::double precision) AS msg_id`.pipe(missingQueue(queue))
          return rows.map((r) => r.msg_id)
        }),
        read: Effect.fn("MessageQueue.read")(function*(queue: string, options: {
          readonly visibilityTimeoutSeconds: number
          readonly quantity: number
        }) {
          return yield* die(read({ queue, vt: options.visibilityTimeoutSeconds, qty: options.quantity }))
        }),
        delete: Effect.fn("MessageQueue.delete")(function*(queue: string, msgId: bigint) {
          const [row] = yield* sql<{ deleted: boolean }>`SELECT tasker_delete(${queue}, ${msgId}) AS deleted`
          return row!.deleted
        }),
        archive: Effect.fn("MessageQueue.archive")(function*(queue: string, msgId: bigint, options?: ArchiveOptions) {
          const [row] = yield* sql<{ archived: boolean }>`
            SELECT tasker_archive(${queue}, ${msgId}, ${options?.reason ?? null}::text, ${options?.deadLetter ?? false}) AS archived`
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
