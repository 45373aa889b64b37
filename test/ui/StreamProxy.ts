/**
 * A TCP proxy on loopback in front of the API server, for the browser tests of the event stream: it forwards every
 * connection as it is, notes which ones carry `GET /v1/events` (their request head and what the server sent back),
 * and can cut those mid-stream (`cut`), refuse new ones (`block`), or stall them — keep them open but forward
 * nothing more either way (`stall`), as a dead network path does.
 */
import { createServer, type Socket, connect } from "node:net"

export interface StreamConnection {
  /** the request head the browser sent (request line and headers), lower-cased header names kept as sent */
  readonly head: string
  /** what the server sent back so far */
  received: string
  readonly client: Socket
  readonly upstream: Socket
  stalled: boolean
}

export interface StreamProxy {
  readonly url: string
  /** the event-stream connections, oldest first */
  readonly streams: Array<StreamConnection>
  /** closes every open event-stream connection (both sides, at once) */
  readonly cut: () => void
  /** while on, a new event-stream request is refused by closing its connection */
  readonly block: (on: boolean) => void
  /** keeps the open event-stream connections open but forwards nothing more on them */
  readonly stall: () => void
  readonly close: () => Promise<void>
}

const EVENTS_REQUEST = /^GET \/v1\/events[^\r\n]* HTTP\/1\.1\r\n/m

/** The header `name`'s value in a request head, or undefined. */
export const headerOf = (head: string, name: string): string | undefined =>
  new RegExp(`^${name}:[ ]*(.*)\\r?$`, "im").exec(head)?.[1]?.trim()

/** The `id:` of the last event in `received`, or undefined. */
export const lastEventIdOf = (received: string): string | undefined => [...received.matchAll(/^id: (.*)$/gm)].at(-1)?.[1]

export const startStreamProxy = (target: string): Promise<StreamProxy> => {
  const { hostname, port } = new URL(target)
  const streams: Array<StreamConnection> = []
  const sockets = new Set<Socket>()
  let blocked = false
  const server = createServer((client) => {
    sockets.add(client)
    const upstream = connect(Number(port), hostname)
    sockets.add(upstream)
    let stream: StreamConnection | undefined
    const closeBoth = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1")
      if (stream === undefined && EVENTS_REQUEST.test(text)) {
        if (blocked) return closeBoth()
        stream = { head: text.slice(text.search(EVENTS_REQUEST)), received: "", client, upstream, stalled: false }
        streams.push(stream)
      }
      if (stream?.stalled !== true) upstream.write(chunk)
    })
    upstream.on("data", (chunk: Buffer) => {
      if (stream?.stalled === true) return
      if (stream !== undefined) stream.received += chunk.toString("utf8")
      client.write(chunk)
    })
    client.on("error", closeBoth)
    upstream.on("error", closeBoth)
    client.on("close", () => {
      sockets.delete(client)
      upstream.destroy()
    })
    upstream.on("close", () => {
      sockets.delete(upstream)
      client.destroy()
    })
  })
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      resolve({
        url,
        streams,
        cut: () => {
          for (const s of streams) {
            s.client.destroy()
            s.upstream.destroy()
          }
        },
        block: (on) => {
          blocked = on
        },
        stall: () => {
          for (const s of streams) s.stalled = true
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
