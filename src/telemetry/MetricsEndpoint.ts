/**
 * The `/metrics` endpoint of every tasker process (the API's routes and the worker's and orchestrator's health
 * servers), with content negotiation:
 *
 * - by default, the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), exactly as Effect's
 *   `PrometheusMetrics.format` writes it;
 * - when the `Accept` header asks for `application/openmetrics-text` (Prometheus does by default), OpenMetrics
 *   1.0.0: the same series under the same sample names, with the histograms' exemplars
 *   (`# {trace_id="…",correlation_id="…"} value timestamp`, see `Exemplars.ts`) on their bucket lines, and `# EOF`.
 *
 * Effect's Prometheus formatter has no exemplars and no OpenMetrics, hence this module. In OpenMetrics a counter's
 * family is named without its `_total` suffix (`# TYPE tasker_tasks_requests counter`, samples
 * `tasker_tasks_requests_total`); a counter whose name does not end in `_total` is exposed as `unknown`, so that
 * its samples keep the name they have in the text format.
 */
import { Context, Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { type Exemplar, Exemplars, type ExemplarStore, seriesKey } from "./Exemplars.ts"

export const PROMETHEUS_TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

/**
 * Whether an `Accept` header asks for OpenMetrics: an `application/openmetrics-text` entry with a q-value above 0
 * and at least that of any `text/plain` entry.
 */
export const wantsOpenMetrics = (accept: string | undefined): boolean => {
  if (accept === undefined) return false
  let openMetrics = 0
  let text = 0
  for (const entry of accept.split(",")) {
    const [type = "", ...params] = entry.split(";").map((p) => p.trim().toLowerCase())
    const qParam = params.find((p) => p.startsWith("q="))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    if (!Number.isFinite(q)) continue
    if (type === "application/openmetrics-text") openMetrics = Math.max(openMetrics, q)
    else if (type === "text/plain") text = Math.max(text, q)
  }
  return openMetrics > 0 && openMetrics >= text
}

const sanitizeName = (name: string): string => {
  let s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  if (/^[0-9:]/.test(s)) s = "_" + s
  return s.replace(/_+/g, "_").replace(/_$/, "")
}
const sanitizeLabel = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return (/^[0-9]/.test(s) ? "_" + s : s).replace(/_+/g, "_")
}
const escapeValue = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")
const escapeHelp = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")
const number = (v: number | bigint): string =>
  typeof v === "bigint"
    ? v.toString()
    : Number.isNaN(v)
    ? "NaN"
    : v === Infinity
    ? "+Inf"
    : v === -Infinity
    ? "-Inf"
    : v.toString()

const labels = (attributes: Metric.Metric.AttributeSet | undefined, extra: ReadonlyArray<[string, string]> = []) => {
  const parts: Array<string> = []
  for (const [k, v] of Object.entries(attributes ?? {})) {
    if (k === "unit" || k === "time_unit") continue
    parts.push(`${sanitizeLabel(k)}="${escapeValue(v)}"`)
  }
  for (const [k, v] of extra) parts.push(`${k}="${escapeValue(v)}"`)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

/** ` # {trace_id="…",correlation_id="…"} value timestamp` for an exemplar, or "" without one. */
const exemplarSuffix = (exemplar: Exemplar | undefined): string => {
  if (exemplar === undefined) return ""
  const ids: Array<[string, string]> = []
  if (exemplar.traceId !== undefined) ids.push(["trace_id", exemplar.traceId])
  if (exemplar.correlationId !== undefined) ids.push(["correlation_id", exemplar.correlationId])
  return ` # ${labels(undefined, ids) || "{}"} ${number(exemplar.value)} ${(exemplar.timestampMs / 1000).toFixed(3)}`
}

const omType = (type: Metric.Metric.Type, name: string): { readonly family: string; readonly type: string } => {
  switch (type) {
    case "Counter":
    case "Frequency":
      return name.endsWith("_total") ? { family: name.slice(0, -"_total".length), type: "counter" } : { family: name, type: "unknown" }
    case "Gauge":
      return { family: name, type: "gauge" }
    case "Histogram":
      return { family: name, type: "histogram" }
    case "Summary":
      return { family: name, type: "summary" }
  }
}

/** Every metric of `context`'s registry in OpenMetrics 1.0.0, histograms with the exemplars of `store`. */
export const formatOpenMetricsUnsafe = (context: Context.Context<never>, store: ExemplarStore): string => {
  const byName = new Map<string, Array<Metric.Metric.Snapshot>>()
  for (const snapshot of Metric.snapshotUnsafe(context)) {
    const name = sanitizeName(snapshot.id)
    const family = byName.get(name)
    if (family === undefined) byName.set(name, [snapshot])
    else family.push(snapshot)
  }
  const lines: Array<string> = []
  for (const [name, snapshots] of byName) {
    const first = snapshots[0]!
    const { family, type } = omType(first.type, name)
    lines.push(`# TYPE ${family} ${type}`)
    if (first.description) lines.push(`# HELP ${family} ${escapeHelp(first.description)}`)
    for (const m of snapshots) {
      switch (m.type) {
        case "Counter":
        case "Gauge":
          lines.push(`${name}${labels(m.attributes)} ${number(m.type === "Counter" ? m.state.count : m.state.value)}`)
          break
        case "Frequency":
          for (const [key, count] of m.state.occurrences) lines.push(`${name}${labels(m.attributes, [["key", key]])} ${count}`)
          break
        case "Histogram": {
          const key = seriesKey(m.id, m.attributes)
          for (const [boundary, cumulative] of m.state.buckets) {
            if (boundary === Number.POSITIVE_INFINITY) continue
            const exemplar = store.get(key, boundary)
            lines.push(`${name}_bucket${labels(m.attributes, [["le", number(boundary)]])} ${cumulative}${exemplarSuffix(exemplar)}`)
          }
          const inf = store.get(key, Number.POSITIVE_INFINITY)
          lines.push(`${name}_bucket${labels(m.attributes, [["le", "+Inf"]])} ${m.state.count}${exemplarSuffix(inf)}`)
          lines.push(`${name}_sum${labels(m.attributes)} ${number(m.state.sum)}`)
          lines.push(`${name}_count${labels(m.attributes)} ${m.state.count}`)
          break
        }
        case "Summary":
          for (const [quantile, value] of m.state.quantiles) {
            if (value !== undefined) lines.push(`${name}${labels(m.attributes, [["quantile", String(quantile)]])} ${number(value)}`)
          }
          lines.push(`${name}_sum${labels(m.attributes)} ${number(m.state.sum)}`)
          lines.push(`${name}_count${labels(m.attributes)} ${m.state.count}`)
          break
      }
    }
  }
  lines.push("# EOF")
  return lines.join("\n") + "\n"
}

/** The exposition `accept` asks for: its body and content type. */
export const formatMetrics = (accept: string | undefined) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    if (wantsOpenMetrics(accept)) {
      return { body: formatOpenMetricsUnsafe(context, yield* Exemplars), contentType: OPENMETRICS_CONTENT_TYPE }
    }
    return { body: PrometheusMetrics.formatUnsafe(context), contentType: PROMETHEUS_TEXT_CONTENT_TYPE }
  })

/** The answer to `GET /metrics`: the exposition the request's `Accept` header asks for. */
export const metricsHandler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { body, contentType } = yield* formatMetrics(request.headers["accept"])
  return HttpServerResponse.text(body, { contentType, headers: { vary: "Accept" } })
})

/** Adds `GET <path>` (default `/metrics`) serving `metricsHandler` to the router. */
export const metricsEndpointLayer = (path: HttpRouter.PathInput = "/metrics"): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    yield* router.add("GET", path, metricsHandler)
  }))
