/**
 * A query string can carry a secret (`?token=…`, an API key put in the wrong place), and request spans leave the
 * process (OTLP): the server's spans keep the query's names, never its values (`url.full`, `url.query`).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Tracer } from "effect"
import { apiTestLayer, request } from "./Support.ts"

const spans: Array<Tracer.NativeSpan> = []
const keeping = Tracer.make({
  span: (options) => {
    const span = new Tracer.NativeSpan(options)
    spans.push(span)
    return span
  }
})

layer(apiTestLayer().pipe(Layer.provide(Layer.succeed(Tracer.Tracer, keeping))), { timeout: 60_000 })(
  "request spans",
  (it) => {
    it.effect("record the query's names with every value redacted", () =>
      Effect.gen(function*() {
        const secret = "s3cr3t-in-the-query-0123456789"
        const answer = yield* request("GET", `/v1/tasks?limit=5&token=${secret}&api_key=${secret}`)
        assert.include([200, 400], answer.status)
        const server = spans.filter((s) => s.attributes.get("url.path") === "/v1/tasks")
        assert.isAbove(server.length, 0, `spans: ${spans.map((s) => s.name).join(", ")}`)
        for (const span of server) {
          const full = String(span.attributes.get("url.full"))
          assert.notInclude(full, secret)
          assert.notInclude(String(span.attributes.get("url.query") ?? ""), secret)
          assert.include(full, "token=")
          assert.notInclude(full, "limit=5")
        }
      }))
  }
)
