/**
 * The OpenAPI document the API serves (`GET /openapi.json`) is the API's generated document, states what the
 * linter's recommended rules ask for (license, servers, tag descriptions), and has no schema that accepts
 * anything inside an `anyOf`/`oneOf` (`Schema.NullOr(Schema.Json)` once produced `anyOf: [{}, {type: "null"}]`).
 * `OpenApiLint.test.ts` lints the same document with Redocly's own linter.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { OpenApi } from "effect/http-api"
import { Api } from "../../src/api/Api.ts"
import { apiTestLayer, request } from "./Support.ts"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/** The JSON pointers of `anyOf`/`oneOf` members that are the empty schema `{}`, or of empty `anyOf`/`oneOf`/`allOf`. */
const acceptAnythingMembers = (doc: Json, pointer = ""): ReadonlyArray<string> => {
  if (Array.isArray(doc)) return doc.flatMap((item, i) => acceptAnythingMembers(item, `${pointer}/${i}`))
  if (!isObject(doc)) return []
  const found: Array<string> = []
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const members = doc[key]
    if (!Array.isArray(members)) continue
    if (members.length === 0) found.push(`${pointer}/${key}`)
    if (key !== "allOf") {
      members.forEach((m, i) => {
        if (isObject(m) && Object.keys(m).length === 0) found.push(`${pointer}/${key}/${i}`)
      })
    }
  }
  return [...found, ...Object.entries(doc).flatMap(([k, v]) => acceptAnythingMembers(v, `${pointer}/${k}`))]
}

layer(apiTestLayer(), { timeout: 60_000 })("the OpenAPI document", (it) => {
  it.effect("is the API's generated document, served at /openapi.json", () =>
    Effect.gen(function*() {
      const served = yield* request("GET", "/openapi.json")
      assert.strictEqual(served.status, 200)
      assert.deepStrictEqual(served.json, JSON.parse(JSON.stringify(OpenApi.fromApi(Api))))
    }))

  it.effect("names its license and servers, describes its tags, and no schema member accepts anything", () =>
    Effect.gen(function*() {
      const doc = (yield* request("GET", "/openapi.json")).json as JsonObject
      assert.deepStrictEqual((doc.info as JsonObject).license, { name: "MIT", url: "https://opensource.org/license/mit" })
      assert.deepStrictEqual(doc.servers, [{ url: "/", description: "The server that serves this document" }])
      const tags = doc.tags as ReadonlyArray<JsonObject>
      assert.deepStrictEqual(tags.map((t) => t.name), ["Tasks", "Templates", "Dashboard", "System"])
      for (const tag of tags) assert.isTrue(typeof tag.description === "string" && tag.description.length > 0)
      assert.deepStrictEqual(acceptAnythingMembers(doc), [])
      // the check finds what it looks for
      assert.deepStrictEqual(
        acceptAnythingMembers({ a: { anyOf: [{}, { type: "null" }] }, b: { oneOf: [] } }),
        ["/a/anyOf/0", "/b/oneOf"]
      )
    }))
})
