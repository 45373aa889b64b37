/**
 * Per-caller token buckets: each caller (a key id, or the client address when authentication is off) may make
 * `ratePerSecond` requests a second on average and `burst` at once. In memory, per process: with several API
 * processes behind a balancer, each allows the rate. The table of buckets is bounded (`MAX_BUCKETS`): past it, the
 * buckets that are full again are dropped first, then the oldest.
 */

export const DEFAULT_RATE_LIMIT = 50
export const DEFAULT_RATE_BURST = 100
const MAX_BUCKETS = 10_000

interface Bucket {
  tokens: number
  updatedMs: number
}

export interface RateLimiter {
  /** Takes one token for `caller`: 0 when allowed, else the seconds to wait before the next one (at least 1). */
  readonly take: (caller: string, nowMs?: number) => number
}

export const makeRateLimiter = (ratePerSecond: number, burst: number): RateLimiter => {
  const buckets = new Map<string, Bucket>()
  const refill = (bucket: Bucket, nowMs: number) => {
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * ratePerSecond)
    bucket.updatedMs = nowMs
  }
  const prune = (nowMs: number) => {
    for (const [caller, bucket] of buckets) {
      refill(bucket, nowMs)
      if (bucket.tokens >= burst) buckets.delete(caller)
    }
    // still too many: the oldest entries (a Map iterates in insertion order)
    for (const caller of buckets.keys()) {
      if (buckets.size < MAX_BUCKETS) break
      buckets.delete(caller)
    }
  }
  return {
    take: (caller, nowMs = Date.now()) => {
      let bucket = buckets.get(caller)
      if (bucket === undefined) {
        if (buckets.size >= MAX_BUCKETS) prune(nowMs)
        bucket = { tokens: burst, updatedMs: nowMs }
        buckets.set(caller, bucket)
      } else {
        refill(bucket, nowMs)
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond))
    }
  }
}
