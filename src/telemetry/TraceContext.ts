/**
 * W3C trace context across queue hops: the current span is written into a message's headers as `traceparent`, and
 * the consumer of the message continues that trace. So one task is one trace, from the request that created it
 * through every step on every worker to its completion.
 */
import { Effect, Option, Predicate, Tracer } from "effect"
import type { Schema } from "effect"

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** `{ traceparent }` for the current span, or `{}` outside any span. */
export const currentTraceHeaders: Effect.Effect<{ readonly traceparent?: string }> = Effect.currentSpan.pipe(
  Effect.map((span) => ({ traceparent: `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}` })),
  Effect.catchTag("NoSuchElementError", () => Effect.succeed({}))
)

/** The remote parent span named by a message's `traceparent` header, if it has a valid one. */
export const remoteParent = (headers: Schema.Json | undefined): Option.Option<Tracer.ExternalSpan> => {
  if (!Predicate.isObject(headers) || Array.isArray(headers)) return Option.none()
  const traceparent = (headers as Record<string, unknown>).traceparent
  if (typeof traceparent !== "string") return Option.none()
  const match = TRACEPARENT.exec(traceparent)
  if (match === null) return Option.none()
  return Option.some(Tracer.externalSpan({ traceId: match[1]!, spanId: match[2]!, sampled: match[3] === "01" }))
}

/** Runs `self` as a continuation of the trace in `headers` (unchanged when they carry none). */
export const continueTrace = (headers: Schema.Json | undefined) => <A, E, R>(self: Effect.Effect<A, E, R>) => {
  const parent = remoteParent(headers)
  return Option.isSome(parent) ? Effect.withParentSpan(self, parent.value) : self
}
