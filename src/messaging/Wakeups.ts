/**
 * Wake-ups for queue consumers: one listener per process on channel `tasker_queue` (payload = queue name, or
 * `task:<uuid>:<state>` for task events), fanned out to the local consumers of each queue and the waiters of each
 * task, with a polling fallback.
 *
 * Deployment modes:
 * - `hybrid` (default): notifications wake consumers at once; every `pollInterval` they also look anyway, which
 *   catches anything a notification missed (a dropped connection, a delayed message);
 * - `event_driven`: notifications only;
 * - `polling`: no LISTEN connection; consumers look every `pollInterval`.
 *
 * The listener reconnects with exponential backoff when its connection drops, and wakes every consumer after
 * reconnecting (notifications sent meanwhile were lost).
 */
import { Context, Duration, Effect, Layer, Queue, Schedule, type Scope } from "effect"
import type { DeploymentMode } from "../config/EngineConfig.ts"
import { CurrentProcessor } from "../db/Processors.ts"
import type { TaskRecord } from "../domain/TaskRecord.ts"
import { finishedTaskStates } from "../domain/TaskStateMachine.ts"
import { NOTIFY_CHANNEL } from "./Channels.ts"
import { NotificationSource } from "../db/Notifications.ts"

export interface WakeupSubscription {
  /**
   * Waits for a wake-up of this queue, at most the poll interval (in hybrid and polling modes). Returns `true` when
   * woken by a signal, `false` when the poll interval elapsed.
   */
  readonly await: Effect.Effect<boolean>
  /**
   * Drops a pending wake-up. A consumer calls it just before it looks at its queue: a wake-up that arrived before
   * the look is answered by it (the look sees every message committed before it started), so keeping it would only
   * cause an empty second look. Typical case: the worker's own local signal and the NOTIFY of the same commit.
   */
  readonly reset: Effect.Effect<void>
}

/** A task reached a state its waiters care about (terminal, or blocked by failures). */
export interface TaskEvent {
  readonly taskUuid: string
  readonly state: string
  /**
   * The task's row as the change committed it, when the publisher has it (a worker whose result finished the task):
   * the waiters take it instead of reading the task again.
   */
  readonly task?: TaskRecord | undefined
}

/** A waiter's registration for one task's events (`Wakeups.watchTask`). */
export interface TaskWatch {
  /**
   * Waits for an event of the task since registration or the last `await`, at most the watch interval. Returns the
   * task's row when the event carried it (`TaskEvent.task`); `undefined` for an event without one, or when the
   * interval elapsed: read the task then.
   */
  readonly await: Effect.Effect<TaskRecord | undefined>
}

/** Notification payloads `task:<uuid>:<state>` carry task events; anything else is a queue name. */
const parseTaskEvent = (payload: string): TaskEvent | undefined => {
  if (!payload.startsWith("task:")) return undefined
  const [, taskUuid, state] = payload.split(":")
  return taskUuid === undefined || state === undefined ? undefined : { taskUuid, state }
}

export interface WakeupsOptions {
  readonly mode: DeploymentMode
  readonly pollInterval: Duration.Input
}

export class Wakeups extends Context.Service<Wakeups, {
  readonly mode: DeploymentMode
  /** A subscription to the wake-ups of `queue`, for the lifetime of the scope. */
  readonly subscribe: (queue: string) => Effect.Effect<WakeupSubscription, never, Scope.Scope>
  /**
   * A latch for one task's events (terminal states and blocked_by_failures), registered for the lifetime of the
   * scope: `await` returns when an event for that task arrived since registration or the last `await`.
   */
  readonly watchTask: (taskUuid: string) => Effect.Effect<TaskWatch, never, Scope.Scope>
  /**
   * Publishes a task's new state to this process's watchers of that task; only the states they wait for (terminal,
   * or blocked by failures) wake them. The listener publishes the notifications of every process; a component that
   * committed a task's state change itself publishes it too, so waiters in its process need not wait for the
   * notification's trip through the listener (a watcher woken twice just re-reads its task), and with the task's
   * row when it has it, so they need not read it either.
   */
  readonly publishTaskEvent: (event: TaskEvent) => Effect.Effect<void>
  /**
   * Wakes this process's consumers of `queue`. The engine calls it after committing a send it marked with its own
   * origin (tasker_notify_queue): the NOTIFY of that send is skipped here, so each send wakes a consumer once.
   */
  readonly signal: (queue: string) => Effect.Effect<void>
  /** Wakes every consumer and every task watcher (after a reconnect: notifications may have been lost). */
  readonly signalAll: Effect.Effect<void>
}>()("tasker/messaging/Wakeups") {
  /**
   * With the database's notifications (one listener on channel `tasker_queue`) feeding the fan-out, unless the
   * mode is `polling`. Needs the `NotificationSource` of the database layer, and this process's `CurrentProcessor`
   * (notifications it marked as its own are skipped: it signals its consumers itself after committing).
   */
  static readonly layer = (options: WakeupsOptions) =>
    Layer.effect(
      Wakeups,
      Effect.gen(function*() {
        const wakeups = yield* makeLocal(options)
        if (options.mode !== "polling") {
          const source = yield* NotificationSource
          const processor = yield* CurrentProcessor
          yield* Effect.forkScoped(listen(source, wakeups, processor.processorUuid))
        }
        return wakeups
      })
    )
}

/**
 * A task's waiter: its wake-up latch, and the task's row when an event carried one. A later event without a row
 * (the same change's NOTIFY coming back through the listener, say) wakes it again but keeps the row.
 */
interface TaskWatcher {
  readonly wake: Queue.Queue<void>
  row: TaskRecord | undefined
}

const makeLocal = (options: WakeupsOptions) =>
  Effect.gen(function*() {
    const taskWatchers = new Map<string, Set<TaskWatcher>>()
    const subscribers = new Map<string, Set<Queue.Queue<void>>>()
    const pollInterval = Duration.fromInputUnsafe(options.pollInterval)
    // A task's end is announced by its own notification, and a reconnected listener wakes every watcher, so with
    // notifications on, a watcher re-reads its task only every 10 poll intervals (each waiter's re-read is a
    // query: with thousands of tasks in flight they would otherwise compete with the engine's own work).
    const watchInterval = options.mode === "polling" ? pollInterval : Duration.times(pollInterval, 10)
    const offerAll = (set: Set<Queue.Queue<void>> | undefined) =>
      set === undefined ? Effect.void : Effect.forEach(set, (q) => Queue.offer(q, undefined), { discard: true })
    const wakeWatchers = (set: Set<TaskWatcher> | undefined, row: TaskRecord | undefined) =>
      set === undefined ? Effect.void : Effect.forEach(set, (watcher) => {
        if (row !== undefined) watcher.row = row
        return Queue.offer(watcher.wake, undefined)
      }, { discard: true })

    const register = <A>(registry: Map<string, Set<A>>, key: string, make: Effect.Effect<A>) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const q = yield* make
          let set = registry.get(key)
          if (set === undefined) {
            set = new Set()
            registry.set(key, set)
          }
          set.add(q)
          return q
        }),
        (q) =>
          Effect.sync(() => {
            const set = registry.get(key)
            set?.delete(q)
            if (set?.size === 0) registry.delete(key)
          })
      )

    const subscribe = (queue: string) =>
      register(subscribers, queue, Queue.sliding<void>(1)).pipe(
        Effect.map((q): WakeupSubscription => ({
          await: options.mode === "event_driven"
            ? Effect.as(Queue.take(q), true)
            : Queue.take(q).pipe(
              Effect.as(true),
              Effect.timeoutOption(pollInterval),
              Effect.map((o) => o._tag === "Some")
            ),
          reset: Effect.asVoid(Queue.poll(q))
        }))
      )

    return Wakeups.of({
      mode: options.mode,
      subscribe,
      watchTask: (taskUuid) =>
        register(
          taskWatchers,
          taskUuid,
          Effect.map(Queue.sliding<void>(1), (wake): TaskWatcher => ({ wake, row: undefined }))
        ).pipe(
          Effect.map((watcher): TaskWatch => ({
            await: Queue.take(watcher.wake).pipe(
              Effect.timeoutOption(watchInterval),
              Effect.map(() => {
                const row = watcher.row
                watcher.row = undefined
                return row
              })
            )
          }))
        ),
      publishTaskEvent: (event) =>
        Effect.suspend(() =>
          (finishedTaskStates as ReadonlySet<string>).has(event.state)
            ? wakeWatchers(taskWatchers.get(event.taskUuid), event.task)
            : Effect.void
        ),
      signal: (queue) => Effect.suspend(() => offerAll(subscribers.get(queue))),
      signalAll: Effect.suspend(() =>
        Effect.andThen(
          Effect.forEach(subscribers.values(), offerAll, { discard: true }),
          Effect.forEach(taskWatchers.values(), (set) => wakeWatchers(set, undefined), { discard: true })
        )
      )
    })
  })

/**
 * Queue notifications are `<queue>` or `<queue> <origin>`, where the origin is the processor that committed the
 * send and woke its own consumers itself (tasker_notify_queue): those are skipped when they come back here.
 */
const parseQueueNotification = (payload: string): { readonly queue: string; readonly origin: string | undefined } => {
  const space = payload.indexOf(" ")
  return space === -1 ? { queue: payload, origin: undefined } : { queue: payload.slice(0, space), origin: payload.slice(space + 1) }
}

const listen = (source: NotificationSource["Service"], wakeups: Wakeups["Service"], self: string) =>
  Effect.gen(function*() {
    const payloads = yield* source.listen(NOTIFY_CHANNEL)
    // anything sent while we were not listening is only visible by looking
    yield* wakeups.signalAll
    while (true) {
      const payload = yield* Queue.take(payloads)
      const event = parseTaskEvent(payload)
      if (event !== undefined) {
        yield* wakeups.publishTaskEvent(event)
        continue
      }
      const { origin, queue } = parseQueueNotification(payload)
      if (origin !== self) yield* wakeups.signal(queue)
    }
  }).pipe(
    Effect.scoped,
    Effect.tapCause((cause) => Effect.logWarning("notification listener lost its connection; reconnecting", cause)),
    Effect.retry(Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")])),
    Effect.forever
  )
