/**
 * A local OTLP/HTTP receiver for the telemetry benchmark: accepts posts on /v1/traces, /v1/metrics and /v1/logs
 * (any encoding), answers 200 at once and only counts requests and bytes, so what the benchmark measures is the
 * exporting side, not a collector's work. (test/telemetry/OtlpReceiver.ts keeps and parses every body, for tests.)
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface OtlpSink {
  readonly url: string
  /** requests and bytes received per signal (traces, metrics, logs) */
  readonly received: Record<string, { requests: number; bytes: number }>
  readonly close: () => Promise<void>
}

export const startOtlpSink = (): Promise<OtlpSink> =>
  new Promise((resolve) => {
    const received: Record<string, { requests: number; bytes: number }> = {
      traces: { requests: 0, bytes: 0 },
      metrics: { requests: 0, bytes: 0 },
      logs: { requests: 0, bytes: 0 }
    }
    const server = createServer((req, res) => {
      const signal = req.url?.replace(/^\/v1\//, "") ?? ""
      let bytes = 0
      req.on("data", (chunk: Buffer) => (bytes += chunk.length))
      req.on("end", () => {
        const counter = received[signal]
        if (counter !== undefined) {
          counter.requests++
          counter.bytes += bytes
        }
        res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/json" })
        res.end()
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        received,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
