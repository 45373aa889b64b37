/**
 * Reads by key, coalesced: a read goes out at once when none is in flight; the keys asked for meanwhile go together
 * in the next one (at most `maxBatch`, each key once; `batchLoop`). One caller alone never waits; many at once share
 * round trips.
 */
import { Deferred, Effect, Exit, Option, type Scope } from "effect"
import { batchLoop } from "./Batching.ts"

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
    type Waiters = Array<Deferred.Deferred<Option.Option<A>, E>>
    let pending = new Map<string, Waiters>()
    const signal = yield* batchLoop({
      inFlight: 1,
      // (a key asked for again once its read is out waits for the next read: the first may have started too early)
      cut: () => {
        if (pending.size === 0) return undefined
        const batch = new Map<string, Waiters>()
        for (const [key, waiters] of pending) {
          if (batch.size >= options.maxBatch) break
          batch.set(key, waiters)
        }
        for (const key of batch.keys()) pending.delete(key)
        if (pending.size === 0) pending = new Map()
        return batch
      },
      flush: (batch) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(options.read([...batch.keys()]))
          for (const [key, waiters] of batch) {
            const result: Exit.Exit<Option.Option<A>, E> = Exit.isSuccess(exit)
              ? Exit.succeed(Option.fromUndefinedOr(exit.value.get(key)))
              : (exit as Exit.Exit<never, E>)
            yield* Effect.forEach(waiters, (d) => Deferred.done(d, result), { discard: true })
          }
        })
    })
    return (key: string) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Option.Option<A>, E>()
        const waiters = pending.get(key)
        if (waiters === undefined) pending.set(key, [done])
        else waiters.push(done)
        yield* signal
        return yield* Deferred.await(done)
      })
  })
