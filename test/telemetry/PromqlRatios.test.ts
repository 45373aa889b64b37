/**
 * The PromQL ratios of docs/observability/promql.md give 0 (not "no data") when nothing failed: the expressions
 * are evaluated by Prometheus itself (`promtool test rules`) on the made-up series of
 * docs/observability/promql-ratios.test.yml, and every expression tested there must be one that promql.md shows.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { root } from "../cli/Support.ts"

const TESTS = "docs/observability/promql-ratios.test.yml"

/** whitespace collapsed, PromQL comments removed */
const normalized = (promql: string) =>
  promql.split("\n").map((line) => line.replace(/#.*$/, "")).join(" ").replace(/\s+/g, " ").trim()

const tested = (): ReadonlyArray<string> => {
  const file = parse(readFileSync(`${root}${TESTS}`, "utf8")) as {
    tests: ReadonlyArray<{ promql_expr_test: ReadonlyArray<{ expr: string }> }>
  }
  return [...new Set(file.tests.flatMap((t) => t.promql_expr_test.map((e) => normalized(e.expr))))]
}

const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" })
const hasPromtool = promtool.status === 0

describe("the PromQL ratios of promql.md", () => {
  it("are the expressions the promtool tests evaluate", () => {
    const doc = readFileSync(`${root}docs/observability/promql.md`, "utf8")
    const blocks = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => normalized(m[1]!)).join(" ")
    const expressions = tested()
    expect(expressions.length).toBeGreaterThan(5)
    for (const expr of expressions) expect(blocks, expr).toContain(expr)
  })

  it.runIf(hasPromtool)("give 0 when nothing failed and the real ratio otherwise (promtool test rules)", () => {
    const result = spawnSync("promtool", ["test", "rules", TESTS], { cwd: root, encoding: "utf8" })
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0)
    expect(result.stdout).toContain("SUCCESS")
  })
})
