/** Captures `console.log` for tests of the console loggers. */
import { Effect } from "effect"

/** Runs `self` with `console.log` captured; returns the lines written. */
export const captureConsole = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      const original = globalThis.console.log
      globalThis.console.log = (...args: Array<unknown>) => {
        lines.push(args.map(String).join(" "))
      }
      return { lines, original }
    }),
    ({ lines }) => Effect.map(self, () => lines),
    ({ original }) => Effect.sync(() => (globalThis.console.log = original))
  )
