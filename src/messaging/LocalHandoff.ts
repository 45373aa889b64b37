/**
 * Steps handed to this process's own worker without going through the queue. A task created in a process whose
 * worker hosts its template and has free slots has its root steps claimed for that worker in the creation's
 * transaction (`tasker_create_task`, `p_handoff_limit`): once the creation commits, they start at once, with no
 * notification, no wake-up and no claim transaction of their own — the same hand-off a worker's result gives the
 * children it makes ready (docs/engine.md, "The step path").
 *
 * The worker registers itself as the host (`register`, for the lifetime of its scope); `TaskInitializer` asks how
 * many roots the host can take (`freeSlots`) and gives it what the creation claimed (`adopt`). A claimed step is
 * claimed in the database like any other: if the process dies before running it, its message comes back after the
 * visibility timeout and another worker reclaims it.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { HandedOffClaim } from "../db/EngineFunctions.ts"

/** The worker of this process, as the hand-off sees it. */
export interface HandoffHost {
  /** The visibility timeout of the host's claims, in seconds. */
  readonly visibilityTimeoutSeconds: number
  /**
   * How many of up to `max` steps of `template` (`namespace/name@version`) on `queue` the host would start now: its
   * slots neither running a step nor promised to another creation (0 when it does not run that template, or is
   * shutting down). The promise ends with `adopt` or `release`.
   */
  readonly reserve: (queue: string, template: string, max: number) => Effect.Effect<number>
  /**
   * Runs steps claimed for the host on `queue` (`reserved` of them were promised). A step that finds no free slot
   * waits for one briefly, then goes back to the queue (visible again at once, its attempt not used up).
   */
  readonly adopt: (queue: string, claims: ReadonlyArray<HandedOffClaim>, reserved: number) => Effect.Effect<void>
  /** Ends the promise of `reserved` slots when nothing was claimed (the creation failed). */
  readonly release: (reserved: number) => Effect.Effect<void>
}

export class LocalHandoff extends Context.Service<LocalHandoff, {
  /** Makes `host` the process's worker for the lifetime of the scope. */
  readonly register: (host: HandoffHost) => Effect.Effect<void, never, Scope.Scope>
  /** The registered host, if any. */
  readonly host: () => HandoffHost | undefined
}>()("tasker/messaging/LocalHandoff") {
  static readonly layer = Layer.sync(LocalHandoff, () => {
    let current: HandoffHost | undefined
    return LocalHandoff.of({
      register: (host) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            current = host
          }),
          () =>
            Effect.sync(() => {
              if (current === host) current = undefined
            })
        ),
      host: () => current
    })
  })
}
