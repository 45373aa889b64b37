/**
 * Long-running background loops that survive their own failures.
 */
import { Cause, type Duration, Effect } from "effect"

/**
 * Runs `loop` forever; a failure or defect is logged (annotated with `loop: name`) and the loop restarts after
 * `pause`. Interruption stops it.
 */
export const supervised = <E, R>(name: string, loop: Effect.Effect<void, E, R>, pause: Duration.Input = "1 second") =>
  loop.pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError(`${name} loop failed; restarting`, cause).pipe(Effect.andThen(Effect.sleep(pause)))
    ),
    Effect.forever,
    Effect.annotateLogs("loop", name)
  )
