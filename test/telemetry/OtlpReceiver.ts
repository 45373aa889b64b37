/**
 * A real OTLP/HTTP receiver for tests: a node:http server on loopback that accepts OTLP JSON (`http/json`) posts
 * on /v1/traces, /v1/metrics and /v1/logs and keeps every request body.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"

export interface Received {
  readonly traces: Array<any>
  readonly metrics: Array<any>
  readonly logs: Array<any>
}

export const startOtlpReceiver = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly received: Received; readonly close: () => Promise<void> }>((resume) => {
    const received: Received = { traces: [], metrics: [], logs: [] }
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c) => chunks.push(c))
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        try {
          const json = JSON.parse(body)
          if (req.url === "/v1/traces") received.traces.push(json)
          else if (req.url === "/v1/metrics") received.metrics.push(json)
          else if (req.url === "/v1/logs") received.logs.push(json)
        } catch {
          // not JSON: ignored
        }
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        received,
        close: () => new Promise<void>((r) => server.close(() => r()))
      }))
    })
  }),
  (receiver) => Effect.promise(() => receiver.close())
)

const attr = (attributes: ReadonlyArray<any> | undefined, key: string): unknown => {
  const found = attributes?.find((a) => a.key === key)
  if (found === undefined) return undefined
  const v = found.value
  return v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue
}

/** Every span received: name, trace id and attributes. */
export const spans = (received: Received) =>
  received.traces.flatMap((t) =>
    (t.resourceSpans ?? []).flatMap((rs: any) =>
      (rs.scopeSpans ?? []).flatMap((ss: any) =>
        (ss.spans ?? []).map((s: any) => ({
          name: s.name as string,
          traceId: s.traceId as string,
          attribute: (key: string) => attr(s.attributes, key)
        }))
      )
    )
  )

/** The data points of metric `name` in the LAST export that has it (cumulative). */
export const dataPoints = (received: Received, name: string) => {
  for (let i = received.metrics.length - 1; i >= 0; i--) {
    const points = (received.metrics[i].resourceMetrics ?? []).flatMap((rm: any) =>
      (rm.scopeMetrics ?? []).flatMap((sm: any) =>
        (sm.metrics ?? []).filter((m: any) => m.name === name).flatMap((m: any) =>
          (m.sum?.dataPoints ?? m.histogram?.dataPoints ?? m.gauge?.dataPoints ?? []).map((p: any) => ({
            value: Number(p.asInt ?? p.asDouble ?? 0),
            count: Number(p.count ?? 0),
            attribute: (key: string) => attr(p.attributes, key)
          }))
        )
      )
    )
    if (points.length > 0) return points as Array<{ value: number; count: number; attribute: (key: string) => unknown }>
  }
  return []
}

/** Every log record received: body and attributes. */
export const logRecords = (received: Received) =>
  received.logs.flatMap((l) =>
    (l.resourceLogs ?? []).flatMap((rl: any) =>
      (rl.scopeLogs ?? []).flatMap((sl: any) =>
        (sl.logRecords ?? []).map((r: any) => ({
          body: r.body?.stringValue ?? JSON.stringify(r.body),
          attribute: (key: string) => attr(r.attributes, key)
        }))
      )
    )
  )

/** Every metric of every export: name, unit, and the attribute keys of its data points. */
export const metricDescriptors = (received: Received) =>
  received.metrics.flatMap((m) =>
    (m.resourceMetrics ?? []).flatMap((rm: any) =>
      (rm.scopeMetrics ?? []).flatMap((sm: any) =>
        (sm.metrics ?? []).map((metric: any) => ({
          name: metric.name as string,
          unit: (metric.unit ?? "") as string,
          attributeKeys: new Set<string>(
            (metric.sum?.dataPoints ?? metric.histogram?.dataPoints ?? metric.gauge?.dataPoints ?? [])
              .flatMap((p: any) => (p.attributes ?? []).map((a: any) => a.key as string))
          )
        }))
      )
    )
  )

/** Every span received with its status code (0 unset, 1 OK, 2 error) and status message. */
export const spanStatuses = (received: Received) =>
  received.traces.flatMap((t) =>
    (t.resourceSpans ?? []).flatMap((rs: any) =>
      (rs.scopeSpans ?? []).flatMap((ss: any) =>
        (ss.spans ?? []).map((s: any) => ({
          name: s.name as string,
          code: Number(s.status?.code ?? 0),
          message: (s.status?.message ?? "") as string,
          attribute: (key: string) => attr(s.attributes, key)
        }))
      )
    )
  )
