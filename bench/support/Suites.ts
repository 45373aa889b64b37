/** Every suite, in the order `npm run bench` runs them. */
import { suite as e2e } from "../e2e-latency.ts"
import { suite as events } from "../event-propagation.ts"
import { suite as sqlFunctions } from "../sql-functions.ts"
import { suite as taskCreation } from "../task-creation.ts"
import { suite as writes } from "../writes.ts"
import type { Suite } from "./Harness.ts"

export const allSuites: ReadonlyArray<Suite> = [sqlFunctions, events, taskCreation, e2e, writes]

/** The suites named in `--suite a,b` (all when absent). */
export const selectSuites = (names: string | undefined): ReadonlyArray<Suite> => {
  if (names === undefined) return allSuites
  const wanted = names.split(",").map((n) => n.trim()).filter((n) => n.length > 0)
  const unknown = wanted.filter((n) => !allSuites.some((s) => s.name === n))
  if (unknown.length > 0) {
    throw new Error(`unknown suite(s) ${unknown.join(", ")}; suites: ${allSuites.map((s) => s.name).join(", ")}`)
  }
  return allSuites.filter((s) => wanted.includes(s.name))
}
