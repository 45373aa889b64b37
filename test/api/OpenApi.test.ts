/**
 * The OpenAPI document the API serves (`GET /openapi.json`) passes the rules of Redocly's `recommended` ruleset
 * (`@redocly/openapi-core`, `packages/core/src/config/recommended.ts`, OpenAPI 3.1 rules) that apply to a generated
 * document, each checked here as the rule states it. The linter itself is not a dependency (yet):
 * `test/api/OpenApiLint.test.ts.pending` runs the real one once it is installed.
 *
 * Checked, with their recommended severity: `info-license` and `info-license-strict` (warn), `no-empty-servers`,
 * `no-server-trailing-slash` (error), `no-server-example.com` (warn), `operation-operationId` (warn),
 * `operation-operationId-unique`, `operation-operationId-url-safe`, `operation-summary` (error),
 * `operation-2xx-response`, `operation-4xx-response` (warn), `operation-parameters-unique`,
 * `path-parameters-defined`, `path-declaration-must-exist`, `path-not-include-query`, `no-path-trailing-slash`,
 * `no-identical-paths` (error), `no-ambiguous-paths` (warn), `security-defined` (error), `tag-description`,
 * `no-duplicated-tag-names` (warn), `no-unresolved-refs` (error), `no-unused-components` (warn),
 * `spec-components-invalid-map-name`, `no-enum-type-mismatch`, `no-schema-type-mismatch` (error),
 * `no-required-schema-properties-undefined`, `no-mixed-number-range-constraints`, `no-invalid-schema-examples` /
 * `no-invalid-media-type-examples` (warn: the document has no examples, which is asserted), and — not Redocly
 * rules by name — no empty `anyOf`, `oneOf` or `allOf` (invalid JSON Schema, which `struct` rejects) and no empty
 * schema `{}` as a member of `anyOf` or `oneOf` (it accepts anything: `Schema.NullOr(Schema.Json)` made them).
 * `operation-tag-defined` (off in `recommended`) is checked too: every operation's tag is declared.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { OpenApi } from "effect/http-api"
import { Api } from "../../src/api/Api.ts"
import { apiTestLayer, request } from "./Support.ts"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const

interface Operation {
  readonly path: string
  readonly method: string
  readonly op: JsonObject
  readonly where: string
}

const operationsOf = (doc: JsonObject): ReadonlyArray<Operation> =>
  Object.entries(doc.paths as JsonObject).flatMap(([path, item]) =>
    METHODS.filter((m) => isObject((item as JsonObject)[m])).map((method) => ({
      path,
      method,
      op: (item as JsonObject)[method] as JsonObject,
      where: `${method.toUpperCase()} ${path}`
    }))
  )

/** Every node of the document with its JSON pointer. */
const walk = (node: Json, visit: (node: Json, pointer: string) => void, pointer = "#"): void => {
  visit(node, pointer)
  if (Array.isArray(node)) node.forEach((child, i) => walk(child, visit, `${pointer}/${i}`))
  else if (isObject(node)) {
    for (const [key, child] of Object.entries(node)) walk(child, visit, `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`)
  }
}

/** The schemas of the document (JSON Schema positions only), with their pointers. */
const schemasOf = (doc: JsonObject): ReadonlyArray<{ readonly schema: JsonObject; readonly pointer: string }> => {
  const found: Array<{ schema: JsonObject; pointer: string }> = []
  const visitSchema = (schema: Json, pointer: string): void => {
    if (!isObject(schema)) return
    found.push({ schema, pointer })
    for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"] as const) {
      const list = schema[key]
      if (Array.isArray(list)) list.forEach((s, i) => visitSchema(s, `${pointer}/${key}/${i}`))
    }
    for (const key of ["items", "not", "additionalProperties", "propertyNames", "contains", "if", "then", "else"] as const) {
      if (isObject(schema[key])) visitSchema(schema[key], `${pointer}/${key}`)
    }
    for (const key of ["properties", "patternProperties", "$defs"] as const) {
      const map = schema[key]
      if (isObject(map)) for (const [name, s] of Object.entries(map)) visitSchema(s, `${pointer}/${key}/${name}`)
    }
  }
  for (const [name, schema] of Object.entries((doc.components as JsonObject | undefined)?.schemas as JsonObject ?? {})) {
    visitSchema(schema, `#/components/schemas/${name}`)
  }
  for (const { op, where } of operationsOf(doc)) {
    for (const [i, p] of ((op.parameters ?? []) as ReadonlyArray<JsonObject>).entries()) {
      visitSchema(p.schema ?? null, `${where} parameters/${i}`)
    }
    const bodies = [
      ["requestBody", (op.requestBody as JsonObject | undefined)?.content],
      ...Object.entries((op.responses ?? {}) as JsonObject).map(([code, r]) => [`responses/${code}`, (r as JsonObject).content])
    ] as const
    for (const [label, content] of bodies) {
      if (!isObject(content)) continue
      for (const [type, media] of Object.entries(content)) visitSchema((media as JsonObject).schema ?? null, `${where} ${label} ${type}`)
    }
  }
  return found
}

const jsonType = (value: Json): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "number"
    ? Number.isInteger(value) ? "integer" : "number"
    : typeof value

const matchesType = (value: Json, type: string) =>
  jsonType(value) === type || (type === "number" && jsonType(value) === "integer")

/** The problems of the document, one line each: `rule: where: what`. */
const recommendedProblems = (doc: JsonObject): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const report = (rule: string, where: string, what: string) => problems.push(`${rule}: ${where}: ${what}`)
  const info = doc.info as JsonObject
  const operations = operationsOf(doc)
  const components = (doc.components ?? {}) as JsonObject
  const schemas = (components.schemas ?? {}) as JsonObject
  const securitySchemes = (components.securitySchemes ?? {}) as JsonObject

  // info-license, info-license-strict (OpenAPI 3.1: a url or an SPDX identifier)
  const license = info.license
  if (!isObject(license) || typeof license.name !== "string" || license.name === "") {
    report("info-license", "#/info", "no license")
  } else if (!(typeof license.url === "string" && license.url !== "") && !(typeof license.identifier === "string" && license.identifier !== "")) {
    report("info-license-strict", "#/info/license", "neither url nor identifier")
  }

  // no-empty-servers, no-server-trailing-slash, no-server-example.com
  const servers = doc.servers
  if (!Array.isArray(servers) || servers.length === 0) report("no-empty-servers", "#", "no servers")
  for (const server of (Array.isArray(servers) ? servers : []) as ReadonlyArray<JsonObject>) {
    const url = String(server.url ?? "")
    if (url.endsWith("/") && url !== "/") report("no-server-trailing-slash", url, "trailing slash")
    if (/example\.com/.test(url)) report("no-server-example.com", url, "example.com")
  }

  // tags: tag-description, no-duplicated-tag-names, operation-tag-defined
  const tags = (doc.tags ?? []) as ReadonlyArray<JsonObject>
  const tagNames = tags.map((t) => String(t.name))
  for (const tag of tags) {
    if (typeof tag.description !== "string" || tag.description === "") report("tag-description", `tag ${tag.name}`, "no description")
  }
  for (const name of new Set(tagNames.filter((n, i) => tagNames.indexOf(n) !== i))) report("no-duplicated-tag-names", name, "twice")

  // paths
  const paths = Object.keys(doc.paths as JsonObject)
  const normalized = new Map<string, string>()
  for (const [i, path] of paths.entries()) {
    if (path.endsWith("/") && path !== "/") report("no-path-trailing-slash", path, "trailing slash")
    if (path.includes("?")) report("path-not-include-query", path, "query in path")
    const shape = path.replace(/\{[^}]+\}/g, "{}")
    if (normalized.has(shape)) report("no-identical-paths", path, `same as ${normalized.get(shape)}`)
    normalized.set(shape, path)
    for (const other of paths.slice(0, i)) {
      const a = other.split("/")
      const b = path.split("/")
      if (a.length !== b.length) continue
      let aVars = 0
      let bVars = 0
      let ambiguous = true
      for (let k = 0; k < a.length; k++) {
        const av = /^\{.+?\}$/.test(a[k]!)
        const bv = /^\{.+?\}$/.test(b[k]!)
        if (av || bv) {
          if (av) aVars++
          if (bv) bVars++
        } else if (a[k] !== b[k]) ambiguous = false
      }
      if (ambiguous && aVars === bVars) report("no-ambiguous-paths", path, `ambiguous with ${other}`)
    }
  }

  // operations
  const operationIds = new Map<string, string>()
  for (const { op, path, where } of operations) {
    const id = op.operationId
    if (typeof id !== "string" || id === "") report("operation-operationId", where, "no operationId")
    else {
      if (operationIds.has(id)) report("operation-operationId-unique", where, `${id} also on ${operationIds.get(id)}`)
      operationIds.set(id, where)
      if (!/^[A-Za-z0-9-._~:/?#[\]@!$&'()*+,;=]*$/.test(id)) report("operation-operationId-url-safe", where, id)
    }
    if (typeof op.summary !== "string" || op.summary === "") report("operation-summary", where, "no summary")
    const codes = Object.keys((op.responses ?? {}) as JsonObject)
    if (!codes.some((c) => /2[Xx0-9]{2}/.test(c))) report("operation-2xx-response", where, "no 2xx response")
    if (!codes.some((c) => /4[Xx0-9]{2}/.test(c))) report("operation-4xx-response", where, "no 4xx response")
    for (const [code, response] of Object.entries((op.responses ?? {}) as JsonObject)) {
      if (!isObject(response) || typeof response.description !== "string") report("struct", `${where} ${code}`, "no description")
    }
    for (const tag of (op.tags ?? []) as ReadonlyArray<string>) {
      if (!tagNames.includes(tag)) report("operation-tag-defined", where, `tag ${tag} is not declared`)
    }
    // operation-parameters-unique, path-parameters-defined, path-declaration-must-exist
    const parameters = (op.parameters ?? []) as ReadonlyArray<JsonObject>
    const seen = new Set<string>()
    for (const p of parameters) {
      const key = `${p.in}:${p.name}`
      if (seen.has(key)) report("operation-parameters-unique", where, key)
      seen.add(key)
      if (typeof p.name !== "string" || typeof p.in !== "string" || !isObject(p.schema)) {
        report("struct", where, `parameter ${key} lacks name, in or schema`)
      }
    }
    const templated = [...path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!)
    for (const name of templated) {
      if (name === "") report("path-declaration-must-exist", where, "empty {}")
      else if (!parameters.some((p) => p.in === "path" && p.name === name)) {
        report("path-parameters-defined", where, `{${name}} has no path parameter`)
      }
    }
    for (const p of parameters.filter((p) => p.in === "path")) {
      if (!templated.includes(String(p.name))) report("path-parameters-defined", where, `path parameter ${p.name} not in the path`)
      if (p.required !== true) report("struct", where, `path parameter ${p.name} is not required`)
    }
  }

  // security-defined
  const requirementNames = [
    ...((doc.security ?? []) as ReadonlyArray<JsonObject>),
    ...operations.flatMap(({ op }) => (op.security ?? []) as ReadonlyArray<JsonObject>)
  ].flatMap((r) => Object.keys(r))
  for (const name of new Set(requirementNames)) {
    if (!(name in securitySchemes)) report("security-defined", name, "no such security scheme")
  }
  if (doc.security === undefined) {
    for (const { op, where } of operations) if (op.security === undefined) report("security-defined", where, "no security")
  }

  // spec-components-invalid-map-name
  for (const [kind, map] of Object.entries(components)) {
    for (const name of Object.keys(map as JsonObject)) {
      if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) report("spec-components-invalid-map-name", `${kind}/${name}`, "invalid name")
    }
  }

  // no-unresolved-refs, no-unused-components; examples
  const used = new Set<string>()
  walk(doc, (node, pointer) => {
    if (!isObject(node)) return
    if (typeof node.$ref === "string") {
      const match = /^#\/components\/schemas\/(.+)$/.exec(node.$ref)
      if (match === null || !(match[1]! in schemas)) report("no-unresolved-refs", pointer, node.$ref)
      else used.add(match[1]!)
    }
    if ("example" in node || "examples" in node) {
      report("no-invalid-schema-examples", pointer, "an example: validate it against its schema")
    }
  })
  for (const name of Object.keys(schemas)) {
    if (!used.has(name)) report("no-unused-components", `#/components/schemas/${name}`, "never used")
  }

  // the schemas
  for (const { pointer, schema } of schemasOf(doc)) {
    for (const key of ["anyOf", "oneOf", "allOf"] as const) {
      const list = schema[key]
      if (key in schema && (!Array.isArray(list) || list.length === 0)) report("struct", pointer, `empty ${key}`)
      // an empty schema accepts anything: as a member of anyOf/oneOf it makes the whole list meaningless
      if (key !== "allOf" && Array.isArray(list) && list.some((m) => isObject(m) && Object.keys(m).length === 0)) {
        report("empty-schema-member", pointer, `${key} with an empty schema {}`)
      }
    }
    const type = schema.type
    if (Array.isArray(schema.enum) && typeof type === "string") {
      for (const value of schema.enum) {
        if (!matchesType(value, type)) report("no-enum-type-mismatch", pointer, `${JSON.stringify(value)} is not ${type}`)
      }
    }
    if (type === "object" && "items" in schema) report("no-schema-type-mismatch", pointer, "object with items")
    if (type === "array" && "properties" in schema) report("no-schema-type-mismatch", pointer, "array with properties")
    if (typeof schema.maximum === "number" && typeof schema.exclusiveMaximum === "number") {
      report("no-mixed-number-range-constraints", pointer, "maximum and exclusiveMaximum")
    }
    if (typeof schema.minimum === "number" && typeof schema.exclusiveMinimum === "number") {
      report("no-mixed-number-range-constraints", pointer, "minimum and exclusiveMinimum")
    }
    if (Array.isArray(schema.required)) {
      const defined = new Set<string>()
      const collect = (s: Json) => {
        if (!isObject(s)) return
        if (typeof s.$ref === "string") return collect(schemas[s.$ref.replace("#/components/schemas/", "")] ?? null)
        for (const name of Object.keys((s.properties ?? {}) as JsonObject)) defined.add(name)
        for (const part of [...((s.allOf ?? []) as ReadonlyArray<Json>), ...((s.anyOf ?? []) as ReadonlyArray<Json>)]) collect(part)
      }
      collect(schema)
      for (const name of schema.required as ReadonlyArray<string>) {
        if (!defined.has(name)) report("no-required-schema-properties-undefined", pointer, `required ${name} is undefined`)
      }
    }
  }
  return problems
}

layer(apiTestLayer(), { timeout: 60_000 })("the OpenAPI document", (it) => {
  it.effect("is the API's generated document, served at /openapi.json", () =>
    Effect.gen(function*() {
      const served = yield* request("GET", "/openapi.json")
      assert.strictEqual(served.status, 200)
      assert.deepStrictEqual(served.json, JSON.parse(JSON.stringify(OpenApi.fromApi(Api))))
    }))

  it.effect("passes the rules of Redocly's recommended ruleset", () =>
    Effect.gen(function*() {
      const doc = (yield* request("GET", "/openapi.json")).json as JsonObject
      assert.deepStrictEqual(recommendedProblems(doc), [])
      // the fixes these rules asked for, named
      assert.deepStrictEqual((doc.info as JsonObject).license, { name: "MIT", url: "https://opensource.org/license/mit" })
      assert.deepStrictEqual(doc.servers, [{ url: "/", description: "The server that serves this document" }])
      assert.deepStrictEqual((doc.tags as ReadonlyArray<JsonObject>).map((t) => t.name), ["Tasks", "Templates", "System"])
    }))

  it.effect("the checks find what they look for", () =>
    Effect.sync(() => {
      // a document with one instance of each problem the API's document once had, or could have
      const bad = {
        openapi: "3.1.0",
        info: { title: "bad", version: "1" },
        paths: {
          "/things/{id}": {
            get: {
              tags: ["Things"],
              operationId: "things.get",
              responses: {
                "200": {
                  description: "ok",
                  content: {
                    "application/json": {
                      schema: { type: "object", properties: { a: { anyOf: [] }, b: { anyOf: [{}, { type: "null" }] } } }
                    }
                  }
                }
              }
            }
          }
        },
        components: { schemas: { Unused: { type: "string" } }, securitySchemes: {} },
        security: [],
        tags: [{ name: "Things" }]
      }
      assert.deepStrictEqual(recommendedProblems(bad).map((p) => p.split(":")[0]), [
        "info-license",
        "no-empty-servers",
        "tag-description",
        "operation-summary",
        "operation-4xx-response",
        "path-parameters-defined",
        "no-unused-components",
        "struct",
        "empty-schema-member"
      ])
    }))
})
