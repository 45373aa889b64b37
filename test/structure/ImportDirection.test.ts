/**
 * Imports run one way (docs/architecture.md, "Where things live"): a module imports from lower rooms and its own,
 * never upward, never from a peer room, never in a cycle. Checked over every file of `src/`, `layers/` and
 * `entrypoints/` (the package's import paths, on top of everything).
 */
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { type Graph, importCycles, importsOf, readGraph, wrongWayImports } from "../support/ImportGraph.ts"

const repository = fileURLToPath(new URL("../../", import.meta.url))

describe("import direction", () => {
  const graph = readGraph(repository, ["src", "layers", "entrypoints"])

  it("reads the whole library", () => {
    expect(graph.size).toBeGreaterThan(60)
    expect(graph.get("src/worker/Worker.ts")?.map((i) => i.target)).toContain("src/workflow/TemplateRegistry.ts")
    expect(graph.get("src/cli/main.ts")?.length).toBeGreaterThan(0)
  })

  it("no module imports upward or from a peer room", () => {
    expect(wrongWayImports(graph)).toEqual([])
  })

  it("no import cycles", () => {
    expect(importCycles(graph)).toEqual([])
  })

  it("the checks find what they look for", () => {
    const edges = (...targets: Array<string>) => targets.map((target) => ({ target, dynamic: false }))
    const bad: Graph = new Map([
      ["src/db/A.ts", edges("src/orchestration/B.ts")],
      ["src/orchestration/B.ts", edges("src/db/A.ts", "src/worker/C.ts")],
      ["src/worker/C.ts", []],
      ["src/db/D.ts", edges("src/db/E.ts")],
      ["src/db/E.ts", edges("src/db/D.ts")],
      ["src/nowhere/F.ts", []],
      // a lazy import back is no cycle
      ["src/cli/G.ts", [{ target: "src/cli/H.ts", dynamic: true }]],
      ["src/cli/H.ts", edges("src/cli/G.ts")]
    ])
    expect(wrongWayImports(bad)).toEqual([
      "src/db/A.ts imports upward: src/orchestration/B.ts",
      "src/orchestration/B.ts imports its peer room src/worker: src/worker/C.ts",
      "src/nowhere/F.ts: room src/nowhere has no rank (add it to ROOM_RANKS and docs/architecture.md)"
    ])
    expect(importCycles(bad)).toEqual([
      ["src/db/A.ts", "src/orchestration/B.ts"],
      ["src/db/D.ts", "src/db/E.ts"]
    ])
  })

  it("finds static, type-only, re-exported, side-effect and dynamic imports", () => {
    const text = [
      `import { a } from "../db/A.ts"`,
      `import type { B } from "./B.ts"`,
      `export { c } from "../tasks/C.ts"`,
      `import "./side.ts"`,
      `const d = await import("../cli/D.ts")`,
      `import { Effect } from "effect"`
    ].join("\n")
    expect(importsOf("src/api/X.ts", text).map((i) => `${i.target}${i.dynamic ? " (lazy)" : ""}`).sort()).toEqual([
      "src/api/B.ts",
      "src/api/side.ts",
      "src/cli/D.ts (lazy)",
      "src/db/A.ts",
      "src/tasks/C.ts"
    ])
  })
})
