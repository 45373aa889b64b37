/**
 * Reads by key, coalesced: a read goes out at once when none is in flight; the keys asked for meanwhile go together
 * in the next one (at most `maxBatch`, each key once). One caller alone never waits; many at once share round trips.
 */
import { Deferred, Effect, Exit, Option, Queue, type Scope } from "effect"

export interface CoalescedOptions<A, E> {
  /** keys per read, at most */
  readonly maxBatch: number
  /** reads the values of `keys` (distinct); a key without a value is missing from the map */
  readonly read: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, A>, E>
}

/**
 * Starts the reader (a fiber of the scope) and returns the function that asks it for one key: `None` when `read`
 * found no value for it, the read's failure when it failed.
 */
export const coalesced = <A, E>(
  options: CoalescedOptions<A, E>
): Effect.Effect<(key: string) => Effect.Effect<Option.Option<A>, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    let pending = new Map<string, Array<Deferred.Deferred<Option.Option<A>, E>>>()
    const wake = yield* Queue.sliding<void>(1)
    const settle = (waiters: ReadonlyArray<Deferred.Deferred<Option.Option<A>, E>>, exit: Exit.Exit<Option.Option<A>, E>) =>
      Effect.forEach(waiters, (d) => Deferred.done(d, exit), { discard: true })
    const flush = Effect.gen(function*() {
      const batch = new Map<string, Array<Deferred.Deferred<Option.Option<A>, E>>>()
      for (const [key, waiters] of pending) {
        if (batch.size >= options.maxBatch) break
        batch.set(key, waiters)
      }
      for (const key of batch.keys()) pending.delete(key)
      if (pending.size === 0) pending = new Map()
      const exit = yield* Effect.exit(options.read([...batch.keys()]))
      for (const [key, waiters] of batch) {
        yield* settle(
          waiters,
          Exit.isSuccess(exit) ? Exit.succeed(Option.fromUndefinedOr(exit.value.get(key))) : (exit as Exit.Exit<never, E>)
        )
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      // (a wake-up may be stale: its key already went out with the previous read)
      if (pending.size === 0) yield* Queue.take(wake)
      if (pending.size > 0) yield* Effect.uninterruptible(flush)
    })))
    return (key: string) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Option.Option<A>, E>()
        const waiters = pending.get(key)
        if (waiters === undefined) pending.set(key, [done])
        else waiters.push(done)
        yield* Queue.offer(wake, undefined)
        return yield* Deferred.await(done)
      })
  })
