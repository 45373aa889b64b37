/**
 * The OpenAPI document the API serves passes Redocly's `recommended` ruleset, linted by Redocly's own linter
 * (`@redocly/openapi-core`, the library behind `redocly lint`) with no error and no warning. `OpenApi.test.ts`
 * checks that the served document is `OpenApi.fromApi(Api)`, which is what this test lints.
 */
import { createConfig, lintFromString } from "@redocly/openapi-core"
import { OpenApi } from "effect/http-api"
import { describe, expect, it } from "vitest"
import { Api } from "../../src/api/Api.ts"

describe("the OpenAPI document, linted by Redocly", () => {
  it("passes the recommended ruleset without errors or warnings", async () => {
    const config = await createConfig({ extends: ["recommended"] })
    const problems = await lintFromString({
      source: JSON.stringify(OpenApi.fromApi(Api), null, 2),
      absoluteRef: "/openapi.json",
      config
    })
    const lines = problems.map((p) =>
      `${p.severity} ${p.ruleId}: ${p.message} (${p.location.map((l) => l.pointer ?? "").join(", ")})`
    )
    expect(lines).toEqual([])
  }, 60_000)

  it("finds a problem the document once had (the linter is really running)", async () => {
    const config = await createConfig({ extends: ["recommended"] })
    const { servers: _, ...withoutServers } = OpenApi.fromApi(Api)
    const problems = await lintFromString({ source: JSON.stringify(withoutServers), absoluteRef: "/openapi.json", config })
    expect(problems.map((p) => p.ruleId)).toContain("no-empty-servers")
  }, 60_000)
})
