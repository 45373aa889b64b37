/**
 * DNS rebinding: a web page whose name points at 127.0.0.1 makes the browser send requests to a developer's local
 * API with the page's name in `Host`. The server answers only for the names it serves: loopback names when it
 * listens on a loopback address (the default), else the configured list.
 */
import { request as httpRequest } from "node:http"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { hostOfHeader, hostPolicy } from "../../src/api/AllowedHostsLayer.ts"
import { apiTestLayer, baseUrl } from "./Support.ts"

/** GET `path` with the given Host header (fetch will not send a foreign Host). */
const getWithHost = (path: string, host: string) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.promise(() =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = httpRequest(url + path, { headers: { host } }, (res) => {
          let text = ""
          res.setEncoding("utf8")
          res.on("data", (c: string) => (text += c))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
        })
        req.on("error", reject)
        req.end()
      })
    ))

describe("the Host policy", () => {
  it("reads the host of a header without port, brackets or trailing dot", () => {
    assert.strictEqual(hostOfHeader("LocalHost:8080"), "localhost")
    assert.strictEqual(hostOfHeader("[::1]:8080"), "::1")
    assert.strictEqual(hostOfHeader("example.com."), "example.com")
    assert.strictEqual(hostOfHeader("127.0.0.1"), "127.0.0.1")
  })
  it("accepts loopback names on a loopback address, a list when given, anything on a public address", () => {
    const loopback = hostPolicy("127.0.0.1", undefined)!
    for (const ok of ["localhost", "app.localhost", "127.0.0.1", "127.1.2.3", "::1"]) assert.isTrue(loopback(ok), ok)
    for (const bad of ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1"]) {
      assert.isFalse(loopback(bad), bad)
    }
    const listed = hostPolicy("0.0.0.0", ["api.example.com", ".internal.example"])!
    assert.isTrue(listed("api.example.com"))
    assert.isTrue(listed("internal.example"))
    assert.isTrue(listed("tasker.internal.example"))
    assert.isFalse(listed("example.com"))
    assert.isFalse(listed("evilinternal.example"))
    assert.isUndefined(hostPolicy("0.0.0.0", undefined))
    assert.isUndefined(hostPolicy("127.0.0.1", ["*"]))
  })
})

layer(apiTestLayer(), { timeout: 60_000 })("a server on 127.0.0.1", (it) => {
  it.effect("answers loopback names and refuses any other Host with a 403 naming the header", () =>
    Effect.gen(function*() {
      for (const host of ["localhost:8080", "127.0.0.1", "[::1]:1234"]) {
        assert.strictEqual((yield* getWithHost("/health", host)).status, 200, host)
      }
      for (const path of ["/health", "/v1/tasks", "/metrics", "/docs"]) {
        const refused = yield* getWithHost(path, "rebound.attacker.example:8080")
        assert.strictEqual(refused.status, 403, path)
        assert.strictEqual(refused.body.error.code, "FORBIDDEN")
        assert.strictEqual(refused.body.error.field, "host")
      }
    }))
})

layer(apiTestLayer({ allowedHosts: ["tasker.example.com"] }), { timeout: 60_000 })("a server with allowed hosts", (it) => {
  it.effect("answers exactly those", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* getWithHost("/health", "tasker.example.com:443")).status, 200)
      assert.strictEqual((yield* getWithHost("/health", "localhost")).status, 403)
    }))
})
