/**
 * Series per task with `correlation_id` on metrics (the default): after one task of each example kind has created
 * the fleet-wide series, every further task adds only its own per-task counter series. Counted on `/metrics` as
 * Prometheus counts them (one series per sample line: each histogram bucket is one), with the series janitor held
 * off so that nothing is dropped in between. docs/observability/metrics.md#series-per-task records the numbers.
 */
import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TaskerClient } from "../../src/client/Client.ts"
import { apiTestLayer, baseUrl } from "../api/Support.ts"

/** Example tasks: linear and diamond (4 steps each), and error scenarios (a retry, a permanent failure). */
const KINDS = [
  { namespace: "rust_e2e_linear", name: "mathematical_sequence", context: { even_number: 6 } },
  { namespace: "rust_e2e_diamond", name: "diamond_pattern", context: { even_number: 6 } },
  { namespace: "test_errors", name: "success_only", context: {} },
  { namespace: "test_errors", name: "retryable_error_success", context: {} },
  { namespace: "test_errors", name: "permanent_error_only", context: {} }
] as const

const WAVES = 4
/** the target with the correlation label on */
const MAX_SERIES_PER_TASK = 30

/** The series of a Prometheus text exposition: its sample lines. */
const seriesOf = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))

layer(apiTestLayer({}, {}, { settings: { metricsSweepIntervalMs: 3_600_000 } }), { excludeTestServices: true, timeout: "120 seconds" })(
  "series per task",
  (it) => {
    it.effect(`each task of the examples adds at most ${MAX_SERIES_PER_TASK} series (correlation on)`, () =>
      Effect.gen(function*() {
        const client = yield* TaskerClient
        const url = yield* baseUrl
        const scrape = Effect.promise(() => fetch(`${url}/metrics`).then((r) => r.text()))
        const wave = Effect.forEach(KINDS, (kind) =>
          Effect.gen(function*() {
            // a unique idempotency key: equal contexts make distinct tasks
            const created = yield* client.createTask({ ...kind, version: "1.0.0", idempotency_key: randomUUID() })
            yield* client.waitForCompletion(created.task_uuid, { timeout: "30 seconds" })
            return created.correlation_id
          }), { concurrency: "unbounded" })

        // the first wave creates the fleet-wide series (labels of the histograms, gauges, SQL and messaging)
        yield* wave
        const before = seriesOf(yield* scrape)
        const ids: Array<string> = []
        for (let i = 0; i < WAVES; i++) ids.push(...(yield* wave))
        const after = seriesOf(yield* scrape)

        const tasks = WAVES * KINDS.length
        const perTask = (after.length - before.length) / tasks
        const correlated = after.filter((l) => ids.some((id) => l.includes(`correlation_id="${id}"`))).length
        console.log(
          `series per task: ${perTask.toFixed(1)} (${before.length} → ${after.length} over ${tasks} tasks; ` +
            `${(correlated / tasks).toFixed(1)} per task carry its correlation_id)`
        )
        assert.isAtMost(perTask, MAX_SERIES_PER_TASK)
        // the growth is the tasks' own series: each has some, and no histogram carries one
        assert.strictEqual(new Set(ids).size, tasks)
        for (const id of ids) assert.isTrue(after.some((l) => l.includes(`correlation_id="${id}"`)), id)
        assert.isFalse(after.some((l) => l.includes("correlation_id=") && /_(bucket|sum|count)\{/.test(l)))
      }))
  }
)
