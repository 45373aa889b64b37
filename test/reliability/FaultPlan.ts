/**
 * The seeded plan of the fault run (`FaultRun.test.ts`): its settings (from the environment), a small seeded
 * random generator, and the tasks to submit: their shape, context (with each step's planned delay and planned
 * failure), idempotency key, resubmissions and submission times.
 *
 * One seed drives every random choice of the run. Each consumer draws from its own stream (`streamOf(seed,
 * "tasks")`, `"nemesis"`), so a change in how one of them draws leaves the others' choices unchanged.
 */
import { FAULT_NAMESPACE, FAULT_SHAPES, type FaultInput, type FaultShape } from "./fixtures/fault-templates.ts"

export interface FaultSettings {
  readonly seed: number
  readonly tasks: number
  /** how long the nemesis acts, ms; tasks are submitted during the first three quarters of it */
  readonly faultMs: number
  /** PostgreSQL restarts during the fault window */
  readonly dbRestarts: number
  /** how long the run may take to drain after the fault window, ms */
  readonly drainMs: number
  /** the cluster's visibility timeout, s */
  readonly visibilityTimeoutSeconds: number
}

const number = (name: string, fallback: number, valid: (n: number) => boolean): number => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || !valid(n)) throw new Error(`${name}=${raw} is not a valid value`)
  return n
}

/** The default seed, so that every CI run makes the same choices. */
export const DEFAULT_SEED = 12

/** `TASKER_FAULT_SEED`, `TASKER_FAULT_TASKS`, `TASKER_FAULT_MINUTES`, `TASKER_FAULT_DB_RESTARTS`, `TASKER_FAULT_DRAIN_MINUTES`. */
export const faultSettings = (): FaultSettings => ({
  seed: number("TASKER_FAULT_SEED", DEFAULT_SEED, Number.isSafeInteger),
  tasks: number("TASKER_FAULT_TASKS", 300, (n) => Number.isSafeInteger(n) && n > 0),
  faultMs: number("TASKER_FAULT_MINUTES", 2, (n) => n > 0) * 60_000,
  dbRestarts: number("TASKER_FAULT_DB_RESTARTS", 1, (n) => Number.isSafeInteger(n) && n >= 0),
  drainMs: number("TASKER_FAULT_DRAIN_MINUTES", 5, (n) => n > 0) * 60_000,
  visibilityTimeoutSeconds: 4
})

/** A random stream: a float in [0, 1) per call (mulberry32). */
export type Random = () => number

/** The stream `label` of `seed`. */
export const streamOf = (seed: number, label: string): Random => {
  // FNV-1a of the seed and the label, as the generator's state
  let h = 0x811c9dc5
  for (const ch of `${seed}:${label}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193)
  let state = h >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [min, max]. */
export const between = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1))

/** One of `items`. */
export const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

export interface TaskRequestBody {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly context: FaultInput
  readonly tags: ReadonlyArray<string>
  readonly idempotency_key?: string
}

export interface PlannedTask {
  readonly index: number
  readonly shape: FaultShape
  readonly request: TaskRequestBody
  /** when to submit it, ms after the start of the run */
  readonly at: number
  /** when to send the same request again (keyed tasks only), ms after the start of the run */
  readonly resubmitAt: ReadonlyArray<number>
}

/** The tag that names task `index`'s request, so every task in the database can be traced to its request. */
export const requestTag = (index: number) => `fault-req:${index}`

/**
 * The tasks: shapes evenly mixed, even numbers 2..100; about 60 % with an idempotency key, a quarter of those sent
 * again (half of them at the same moment, half 1-30 s later). Each step's handler sleeps 0-30 ms (80 %),
 * 0.1-1.5 s (16 %) or longer than the visibility timeout (4 %: 1-4 s more); 4 % of steps fail their first attempt.
 */
export const planTasks = (settings: FaultSettings): ReadonlyArray<PlannedTask> => {
  const random = streamOf(settings.seed, "tasks")
  const window = settings.faultMs * 0.75
  const shapes = Object.keys(FAULT_SHAPES) as Array<FaultShape>
  return Array.from({ length: settings.tasks }, (_, index) => {
    const shape = pick(random, shapes)
    const delays: Record<string, number> = {}
    const flaky: Array<string> = []
    for (const [name] of FAULT_SHAPES[shape]) {
      const r = random()
      delays[name] = r < 0.8
        ? between(random, 0, 30)
        : r < 0.96
        ? between(random, 100, 1_500)
        : settings.visibilityTimeoutSeconds * 1_000 + between(random, 1_000, 4_000)
      if (random() < 0.04) flaky.push(name)
    }
    const keyed = random() < 0.6
    const at = Math.round(((index + random()) / settings.tasks) * window)
    const resubmitAt: Array<number> = []
    if (keyed && random() < 0.25) resubmitAt.push(random() < 0.5 ? at : at + between(random, 1_000, 30_000))
    return {
      index,
      shape,
      at,
      resubmitAt,
      request: {
        namespace: FAULT_NAMESPACE,
        name: shape,
        version: "1.0.0",
        context: { even_number: 2 * between(random, 1, 50), delays, flaky },
        tags: [requestTag(index)],
        ...(keyed ? { idempotency_key: `fault-${settings.seed}-${index}` } : {})
      }
    }
  })
}
