/**
 * A step's timeline from its transitions: the phases of its life as segments, and who made a transition. Pure
 * functions (no database): `DashboardQueries` reads the transitions, the API shapes them.
 *
 * Phases: `waiting` (pending while a dependency has not finished), `queued` (ready: pending once its dependencies
 * finished, or enqueued: a message waits for a worker), `running` (in_progress, and the result on its way to an orchestrator:
 * enqueued_for_orchestration / enqueued_as_error_for_orchestration), `backoff` (waiting_for_retry). The finished
 * states (complete, error, cancelled, resolved_manually) end the last segment.
 */
import type { Schema } from "effect"

export type Phase = "waiting" | "queued" | "running" | "backoff"

const phaseOf: Record<string, Phase | undefined> = {
  pending: "waiting",
  enqueued: "queued",
  in_progress: "running",
  enqueued_for_orchestration: "running",
  enqueued_as_error_for_orchestration: "running",
  waiting_for_retry: "backoff"
}

export interface Segment {
  readonly phase: Phase
  readonly start: Date
  readonly end: Date | null
  /**
   * the attempt the segment belongs to: the claim it is (running) or that failed (backoff), or the one it leads to
   * (waiting, queued); 1 for the first
   */
  readonly attempt: number
}

export interface StepTransition {
  readonly from_state: string | null
  readonly to_state: string
  readonly at: Date
}

/**
 * The segments of a step created at `createdAt` with `transitions` (oldest first), whose dependencies all finished
 * at `readyAt` (its creation for a root, null while one has not finished). A pending step waits until `readyAt`
 * and is queued from then on (the engine may claim a ready step straight from pending). A step whose first
 * transition does not start from nothing (`from_state` null) is taken to have been pending from its creation.
 * Consecutive transitions within one phase make one segment; the last segment is open (`end` null) unless the
 * step finished.
 */
export const segments = (
  createdAt: Date,
  transitions: ReadonlyArray<StepTransition>,
  readyAt: Date | null
): ReadonlyArray<Segment> => {
  const out: Array<Segment> = []
  let open: { phase: Phase; start: Date; attempt: number } | undefined
  let claims = 0
  // an empty waiting span is no phase (a root, or a step claimed as its last dependency finished); other empty
  // segments are kept: the step was in that phase, for no measurable time (the engine claims a step whose
  // dependencies just finished in the same transaction)
  const push = (segment: Segment) => {
    if (segment.phase !== "waiting" || segment.end === null || segment.end.getTime() > segment.start.getTime()) {
      out.push(segment)
    }
  }
  /** A pending span splits where the dependencies finished: waiting before, queued after (until `end`). */
  const pushPending = (start: Date, end: Date | null, attempt: number) => {
    if (readyAt === null || (end !== null && readyAt.getTime() > end.getTime())) {
      push({ phase: "waiting", start, end, attempt })
      return
    }
    const split = readyAt.getTime() > start.getTime() ? readyAt : start
    push({ phase: "waiting", start, end: split, attempt })
    push({ phase: "queued", start: split, end, attempt })
  }
  const close = (at: Date) => {
    if (open === undefined) return
    if (open.phase === "waiting") pushPending(open.start, at, open.attempt)
    else push({ ...open, end: at })
    open = undefined
  }
  if (transitions.length === 0 || transitions[0]!.from_state !== null) {
    open = { phase: "waiting", start: createdAt, attempt: 1 }
  }
  for (const t of transitions) {
    if (t.to_state === "in_progress") claims += 1
    // a give-back (in_progress → enqueued) returns the unfinished attempt, as the engine counts it
    if (t.from_state === "in_progress" && t.to_state === "enqueued") claims = Math.max(0, claims - 1)
    const phase = phaseOf[t.to_state]
    if (phase === undefined) {
      close(t.at)
      continue
    }
    const attempt = phase === "running" || phase === "backoff" ? Math.max(claims, 1) : claims + 1
    if (open !== undefined && open.phase === phase && open.attempt === attempt) continue
    close(t.at)
    open = { phase, start: t.at, attempt }
  }
  if (open !== undefined) {
    if (open.phase === "waiting") pushPending(open.start, null, open.attempt)
    else push({ ...open, end: null })
  }
  // neighbours of one phase and attempt (a pending span after a retry's backoff, then enqueued) are one segment
  return out.reduce<Array<Segment>>((merged, s) => {
    const last = merged[merged.length - 1]
    if (last !== undefined && last.phase === s.phase && last.attempt === s.attempt && last.end !== null &&
      last.end.getTime() === s.start.getTime()) {
      merged[merged.length - 1] = { ...last, end: s.end }
    } else {
      merged.push(s)
    }
    return merged
  }, [])
}

/**
 * Who made a transition: the person or system the metadata names (`resolvedBy` of a manual resolution,
 * `resolved_by`, `actor`, `cancelled_by`, `requested_by`), else the engine process that wrote it (`processor:<uuid>`), else null.
 */
export const actorOf = (metadata: Schema.Json, processorUuid: string | null): string | null => {
  if (typeof metadata === "object" && metadata !== null && !Array.isArray(metadata)) {
    const m = metadata as Record<string, unknown>
    // an operator action through the API records the caller's key id (src/db/AuditTrail.ts actorMetadata)
    const operator = m["operator"]
    if (typeof operator === "object" && operator !== null && !Array.isArray(operator)) {
      const keyId = (operator as Record<string, unknown>)["key_id"]
      if (typeof keyId === "string" && keyId.length > 0) return `key:${keyId}`
    }
    for (const key of ["resolved_by", "resolvedBy", "actor", "cancelled_by", "requested_by"]) {
      const value = m[key]
      if (typeof value === "string" && value.length > 0) return value
    }
  }
  return processorUuid === null ? null : `processor:${processorUuid}`
}
