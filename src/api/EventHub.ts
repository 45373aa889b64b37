/**
 * The event stream's hub (`GET /v1/events`): one per process, shared by every connected client, running only
 * while at least one client is connected. While it runs it listens on the engine's notification channel
 * (`tasker_queue`: every step message sent and every task that finishes notifies it already; nothing is added to
 * the engine's hot path) and, after a notification (or every 5 s without one), at most once per second, reads the
 * task and step transitions written since its last read (`DashboardQueries.transitionsSince`) and publishes them
 * to the clients. With no client connected there is no LISTEN connection, no timer and no query.
 *
 * Event ids are `<microseconds since the epoch>-<t|s>-<uuid>-<sort key>` of the transition: a client that
 * reconnects with `Last-Event-ID` gets the transitions at or after that time again, minus the one it named and any
 * it had seen. A transition is read again for 2 s after the hub's cursor passed it (`OVERLAP_US`), so one written
 * by a transaction that started before the previous read and committed after it is still published once (a
 * transition's time is its transaction's start).
 */
import { Context, Duration, Effect, Fiber, Layer, Option, PubSub, Queue, Ref, type Scope, Semaphore, Stream } from "effect"
import { NotificationSource } from "../db/Notifications.ts"
import type { TaskUuid } from "../domain/Ids.ts"
import { NOTIFY_CHANNEL } from "../messaging/Channels.ts"
import { DashboardQueries, type TransitionRow } from "../tasks/Dashboard.ts"

/** One published transition with its event id. */
export interface HubEvent {
  readonly id: string
  readonly atUs: bigint
  readonly row: TransitionRow
}

/** Transitions are read again this long after the cursor passed them (late commits). */
const OVERLAP_US = 2_000_000n
/** The most transitions one read publishes (the rest follow on the next tick). */
const READ_LIMIT = 1000
/** Ticks without a notification (a lost notification, the polling deployment mode). */
const FALLBACK_INTERVAL = Duration.seconds(5)
/** The shortest time between two reads. */
const MIN_TICK = Duration.seconds(1)

export const eventId = (row: TransitionRow): string =>
  `${row.at_us}-${row.kind === "task" ? "t" : "s"}-${row.kind === "task" ? row.task_uuid : row.step_uuid}-${row.sort_key}`

/** The time part (µs) of an event id, or none when it is not one of ours. */
export const eventIdTime = (id: string): Option.Option<bigint> => {
  const match = /^(\d{1,20})-[ts]-[0-9a-f-]{36}-\d+$/.exec(id)
  return match === null ? Option.none() : Option.some(BigInt(match[1]!))
}

const toEvent = (row: TransitionRow): HubEvent => ({ id: eventId(row), atUs: row.at_us, row })

export class EventHub extends Context.Service<EventHub, {
  /**
   * The events for one client for the lifetime of the scope: first the transitions since `lastEventId` (when
   * given), then live ones; of one task when `taskUuid` is given.
   */
  readonly subscribe: (options: {
    readonly taskUuid?: TaskUuid | undefined
    readonly sinceUs?: bigint | undefined
    readonly lastEventId?: string | undefined
  }) => Effect.Effect<Stream.Stream<HubEvent>, never, Scope.Scope>
}>()("tasker/api/EventHub") {
  static readonly layer = Layer.effect(
    EventHub,
    Effect.gen(function*() {
      const queries = yield* DashboardQueries
      const notifications = yield* NotificationSource
      const hubScope = yield* Effect.scope
      const pubsub = yield* PubSub.unbounded<ReadonlyArray<HubEvent>>()
      const clients = yield* Ref.make(0)
      const running = yield* Ref.make<Option.Option<Fiber.Fiber<void>>>(Option.none())

      const nowUs = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (ms) => BigInt(ms) * 1000n)

      /** Reads and publishes new transitions until interrupted (when the last client leaves). */
      const ticker = Effect.gen(function*() {
        let cursor = (yield* nowUs) - OVERLAP_US
        const seen = new Map<string, bigint>()
        const wake = yield* Queue.sliding<void>(1)
        // the engine's notifications wake the hub; without them (polling mode, a failed LISTEN) it reads every 5 s
        yield* Effect.gen(function*() {
          const payloads = yield* notifications.listen(NOTIFY_CHANNEL)
          yield* Queue.take(payloads).pipe(Effect.andThen(Queue.offer(wake, undefined)), Effect.forever)
        }).pipe(
          Effect.catchCause((cause) => Effect.logDebug("event hub: no notifications, reading every 5 s", cause)),
          Effect.forkScoped
        )
        const tick = Effect.gen(function*() {
          const rows = yield* queries.transitionsSince(cursor - OVERLAP_US, READ_LIMIT)
          const fresh = rows.map(toEvent).filter((e) => !seen.has(e.id))
          for (const e of fresh) seen.set(e.id, e.atUs)
          if (rows.length > 0) {
            const last = rows[rows.length - 1]!.at_us
            if (last > cursor) cursor = last
          }
          for (const [id, at] of seen) if (at < cursor - OVERLAP_US) seen.delete(id)
          if (fresh.length > 0) yield* PubSub.publish(pubsub, fresh)
        }).pipe(Effect.catchCause((cause) => Effect.logWarning("event hub: reading transitions failed", cause)))
        while (true) {
          yield* Queue.take(wake).pipe(Effect.timeoutOption(FALLBACK_INTERVAL))
          yield* tick
          yield* Effect.sleep(MIN_TICK)
        }
      }).pipe(Effect.scoped)

      const join = Effect.gen(function*() {
        const count = yield* Ref.updateAndGet(clients, (n) => n + 1)
        if (count === 1) {
          const fiber = yield* Effect.forkIn(ticker, hubScope)
          yield* Ref.set(running, Option.some(fiber))
        }
      })
      const leave = Effect.gen(function*() {
        const count = yield* Ref.updateAndGet(clients, (n) => n - 1)
        if (count === 0) {
          const fiber = yield* Ref.getAndSet(running, Option.none())
          if (Option.isSome(fiber)) yield* Fiber.interrupt(fiber.value)
        }
      })
      // join/leave one at a time, so a leave's interruption and a join's start never interleave
      const lock = yield* Semaphore.make(1)

      const subscribe = Effect.fn("EventHub.subscribe")(function*(options: {
        readonly taskUuid?: TaskUuid | undefined
        readonly sinceUs?: bigint | undefined
        readonly lastEventId?: string | undefined
      }) {
        const subscription = yield* PubSub.subscribe(pubsub)
        yield* Effect.acquireRelease(lock.withPermit(join), () => lock.withPermit(leave))
        const sent = new Set<string>()
        const catchUp = options.sinceUs === undefined
          ? []
          : (yield* queries.transitionsSince(options.sinceUs, 10_000, options.taskUuid).pipe(
            Effect.orElseSucceed(() => [] as ReadonlyArray<TransitionRow>)
          )).map(toEvent).filter((e) => e.id !== options.lastEventId)
        for (const e of catchUp) sent.add(e.id)
        const mine = (e: HubEvent) =>
          (options.taskUuid === undefined || e.row.task_uuid === options.taskUuid) && !sent.has(e.id)
        return Stream.concat(
          Stream.fromIterable(catchUp),
          Stream.fromSubscription(subscription).pipe(Stream.flattenIterable, Stream.filter(mine))
        )
      })

      return EventHub.of({ subscribe })
    })
  )
}
