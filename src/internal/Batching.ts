/**
 * The loop behind the engine's batching (results, creations, coalesced reads): work goes out at once when fewer than
 * `inFlight` batches are in flight, and the work that comes meanwhile goes together in the next batch. One item
 * alone never waits; many at once share round trips.
 */
import { Effect, FiberSet, Queue, type Scope, Semaphore } from "effect"

export interface BatchLoopOptions<B> {
  /** batches in flight at once, at most */
  readonly inFlight: number
  /**
   * Takes the next batch out of the caller's pending work (synchronously, as it is sent), or `undefined` when there
   * is none.
   */
  readonly cut: () => B | undefined
  /** sends one batch; runs in a fiber of its own that nothing interrupts (its callers wait for it) */
  readonly flush: (batch: B) => Effect.Effect<void>
}

/**
 * Starts the loop (a fiber of the scope; closing the scope waits for the batches in flight) and returns the signal
 * that new work is pending. A signal may be stale (its work already went with an earlier batch): the loop then finds
 * nothing to cut and waits again.
 */
export const batchLoop = <B>(options: BatchLoopOptions<B>): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const wake = yield* Queue.sliding<void>(1)
    const slots = yield* Semaphore.make(options.inFlight)
    const flushes = yield* FiberSet.make<void, never>()
    const sendNext = Effect.suspend(() => {
      const batch = options.cut()
      if (batch === undefined) return Effect.as(slots.release(1), false)
      return Effect.as(
        FiberSet.run(flushes, Effect.uninterruptible(Effect.ensuring(options.flush(batch), slots.release(1)))),
        true
      )
    })
    yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      yield* slots.take(1)
      // (cutting the batch and starting its fiber are one step: a batch cut is always sent)
      if (!(yield* Effect.uninterruptible(sendNext))) yield* Queue.take(wake)
    })))
    return Effect.asVoid(Queue.offer(wake, undefined))
  })
