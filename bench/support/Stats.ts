/**
 * Summary statistics of a latency sample (pure): percentiles by linear interpolation between the closest ranks,
 * mean, extremes, and 101 quantiles (q0 … q100) kept in the results file so that a later run can draw the whole
 * distribution against it without the raw samples.
 */

export interface Summary {
  /** number of samples */
  readonly n: number
  readonly mean: number
  readonly min: number
  readonly max: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** q0, q1, …, q100 */
  readonly quantiles: ReadonlyArray<number>
}

/** The `q`-quantile (0 ≤ q ≤ 1) of ascending-sorted values, interpolating linearly between closest ranks. */
export const quantileSorted = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const position = Math.min(Math.max(q, 0), 1) * (sorted.length - 1)
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  const lo = sorted[lower]!
  return lo + (sorted[upper]! - lo) * (position - lower)
}

/** Rounds to `digits` significant digits, so result files stay readable and diffs small. */
export const round = (value: number, digits = 4): number =>
  Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(digits)) : value

/** Summarizes samples (any unit; the unit of the result is the unit of the input). */
export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  const mean = n === 0 ? Number.NaN : sorted.reduce((sum, v) => sum + v, 0) / n
  return {
    n,
    mean: round(mean),
    min: round(sorted[0] ?? Number.NaN),
    max: round(sorted[n - 1] ?? Number.NaN),
    p50: round(quantileSorted(sorted, 0.5)),
    p95: round(quantileSorted(sorted, 0.95)),
    p99: round(quantileSorted(sorted, 0.99)),
    quantiles: Array.from({ length: 101 }, (_, i) => round(quantileSorted(sorted, i / 100)))
  }
}
