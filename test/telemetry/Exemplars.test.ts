/**
 * Exemplars and the OpenMetrics exposition of `/metrics`: an observation recorded in a span and a correlation
 * region is its bucket's exemplar, with that span's trace ID; `/metrics` answers Prometheus text 0.0.4 unless the
 * `Accept` header asks for OpenMetrics; histograms carry no `correlation_id` label, only the per-task counters do;
 * and a real Prometheus with exemplar storage scrapes the exemplars and returns them from `query_exemplars`.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { SqlClient } from "effect/sql"
import { TaskerClient } from "../../src/client/Client.ts"
import { withCorrelation } from "../../src/telemetry/Correlation.ts"
import { ExemplarStore, Exemplars } from "../../src/telemetry/Exemplars.ts"
import * as Metrics from "../../src/telemetry/Metrics.ts"
import { formatOpenMetricsUnsafe, wantsOpenMetrics } from "../../src/telemetry/MetricsEndpoint.ts"
import { apiTestLayer, baseUrl } from "../api/Support.ts"
import { startPrometheus } from "./PrometheusServer.ts"

/** The Accept header Prometheus 2.x sends when scraping. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/** `{trace_id, correlation_id}` and the value of the exemplar on a bucket line, if it has one. */
const exemplarOf = (line: string) => {
  const match = line.match(/ # \{(.*)\} (\S+) (\S+)$/)
  if (match === null) return undefined
  const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
  return { labels, value: Number(match[2]), timestamp: Number(match[3]) }
}

describe("exemplars", () => {
  it("content negotiation: OpenMetrics only when the Accept header prefers it", () => {
    assert.isTrue(wantsOpenMetrics(PROMETHEUS_ACCEPT))
    assert.isTrue(wantsOpenMetrics("application/openmetrics-text; version=1.0.0"))
    assert.isFalse(wantsOpenMetrics(undefined))
    assert.isFalse(wantsOpenMetrics("*/*"))
    assert.isFalse(wantsOpenMetrics("text/plain;version=0.0.4"))
    assert.isFalse(wantsOpenMetrics("text/plain, application/openmetrics-text;q=0.5"))
    assert.isFalse(wantsOpenMetrics("application/openmetrics-text;q=0"))
  })

  it.effect("an observation in a span and a correlation region is its bucket's exemplar, with that span's trace ID", () =>
    Effect.gen(function*() {
      const store = new ExemplarStore()
      const traceId = yield* Effect.gen(function*() {
        yield* Metrics.observeMs(Metrics.stepExecutionDuration, { namespace: "n", result: "success" }, 3)
        return (yield* Effect.currentSpan).traceId
      }).pipe(
        Effect.withSpan("observing"),
        withCorrelation({ correlationId: "c-1", parentCorrelationId: null }),
        Effect.provideService(Exemplars, store)
      )
      // outside any span or region: counted, but no exemplar (the bucket keeps the one it has)
      yield* Metrics.observeMs(Metrics.stepExecutionDuration, { namespace: "n", result: "success" }, 4).pipe(
        Effect.provideService(Exemplars, store)
      )
      const context = yield* Effect.context<never>()
      const text = formatOpenMetricsUnsafe(context, store)
      assert.isTrue(text.endsWith("# EOF\n"))
      assert.include(text, "# TYPE tasker_step_execution_duration histogram")
      const buckets = text.split("\n").filter((l) => l.startsWith("tasker_step_execution_duration_bucket{"))
      // 3 ms falls into le="5" (2.5 < 3 ≤ 5; 4 ms too, without exemplar); the other buckets have no exemplar
      const withExemplar = buckets.filter((l) => exemplarOf(l) !== undefined)
      assert.strictEqual(withExemplar.length, 1)
      assert.match(withExemplar[0]!, /^tasker_step_execution_duration_bucket\{namespace="n",result="success",le="5"\} 2 # /)
      const exemplar = exemplarOf(withExemplar[0]!)!
      assert.deepStrictEqual(exemplar.labels, { trace_id: traceId, correlation_id: "c-1" })
      assert.strictEqual(exemplar.value, 3)
      assert.approximately(exemplar.timestamp, Date.now() / 1000, 60)
      // the histogram has no correlation label
      assert.notInclude(buckets.join("\n").replace(/ # .*$/gm, ""), "correlation_id")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("only the per-task counters take the region's correlation_id", () =>
    Effect.gen(function*() {
      yield* Effect.all([
        Metrics.increment(Metrics.stepExecutions, { namespace: "n", step_name: "s", handler_type: "effect" }),
        Metrics.increment(Metrics.messagesSent, { queue: "q", message_type: "m" }),
        Metrics.increment(Metrics.sqlQueries, { query_type: "f", result: "success" }),
        Metrics.observeMs(Metrics.sqlQueryDuration, { query_type: "f", result: "success" }, 1)
      ]).pipe(withCorrelation({ correlationId: "c-2", parentCorrelationId: null }))
      const correlated = [...(yield* Metric.MetricRegistry).values()]
        .filter((m) => m.attributes?.correlation_id === "c-2")
        .map((m) => m.id)
      assert.deepStrictEqual(correlated, ["tasker.steps.executions.total"])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})

layer(apiTestLayer(), { excludeTestServices: true, timeout: "90 seconds" })("/metrics exemplars", (it) => {
  it.effect("OpenMetrics when asked: exemplars with the task's trace and correlation IDs; text 0.0.4 otherwise; a real Prometheus stores the exemplars", () =>
    Effect.gen(function*() {
      const client = yield* TaskerClient
      const sql = yield* SqlClient.SqlClient
      const created = yield* client.createTask({
        namespace: "rust_e2e_linear",
        name: "mathematical_sequence",
        version: "1.0.0",
        context: { even_number: 8 }
      })
      assert.strictEqual((yield* client.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })).status, "complete")
      const [row] = yield* sql<{ traceparent: string }>`
        SELECT trace_headers->>'traceparent' AS traceparent FROM tasker_tasks WHERE task_uuid = ${created.task_uuid}::uuid`
      const traceId = row!.traceparent.split("-")[1]!
      const url = yield* baseUrl

      const plain = yield* Effect.promise(() => fetch(`${url}/metrics`))
      assert.strictEqual(plain.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
      const plainText = yield* Effect.promise(() => plain.text())
      assert.notInclude(plainText, "# EOF")
      assert.notMatch(plainText, /_bucket\{[^}]*\} \S+ # /)

      const om = yield* Effect.promise(() => fetch(`${url}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } }))
      assert.strictEqual(om.headers.get("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
      const text = yield* Effect.promise(() => om.text())
      assert.isTrue(text.endsWith("# EOF\n"))
      assert.include(text, "# TYPE tasker_tasks_requests counter")
      const lines = text.split("\n")
      // the same sample names as the text format
      assert.isTrue(lines.some((l) => l.startsWith("tasker_tasks_requests_total{") && l.includes(created.correlation_id)))
      // histograms: no correlation label, the task's IDs in the exemplars
      const buckets = lines.filter((l) => l.startsWith("tasker_step_execution_duration_bucket{"))
      assert.isAbove(buckets.length, 0)
      for (const l of buckets) assert.notInclude(l.replace(/ # .*$/, ""), "correlation_id")
      const exemplars = buckets.map(exemplarOf).filter((e) => e !== undefined)
      assert.isAbove(exemplars.length, 0)
      for (const e of exemplars) assert.deepStrictEqual(e.labels, { trace_id: traceId, correlation_id: created.correlation_id })

      // a real Prometheus (it asks for OpenMetrics) parses the exposition and keeps the exemplars
      const prometheus = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startPrometheus({ jobs: { api: [url.replace(/^http:\/\//, "")] }, flags: ["--enable-feature=exemplar-storage"] })
        ),
        (p) => Effect.promise(() => p.stop())
      )
      yield* Effect.promise(() =>
        prometheus.waitFor(
          `sum(tasker_tasks_requests_total{correlation_id="${created.correlation_id}"})`,
          (r) => r.samples[0]?.value === 1
        )
      )
      const now = Date.now() / 1000
      const found = yield* Effect.promise(async () => {
        const params = new URLSearchParams({ query: "tasker_step_execution_duration_bucket", start: String(now - 600), end: String(now + 60) })
        const body = (await (await fetch(`${prometheus.url}/api/v1/query_exemplars?${params}`)).json()) as {
          status: string
          data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }>
        }
        return body
      })
      assert.strictEqual(found.status, "success")
      const stored = found.data.flatMap((s) => s.exemplars.map((e) => ({ series: s.seriesLabels, labels: e.labels })))
      assert.isAbove(stored.length, 0)
      for (const s of stored) {
        assert.deepStrictEqual(s.labels, { trace_id: traceId, correlation_id: created.correlation_id })
        assert.isUndefined(s.series.correlation_id)
      }
    }).pipe(Effect.scoped))
})
