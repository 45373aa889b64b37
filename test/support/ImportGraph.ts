/**
 * The import graph of the library (`src/`, `layers/`) and the one rule it must follow: imports run one way, from a
 * higher room to a lower one, and never in a cycle. docs/architecture.md ("Where things live") shows the rooms.
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize, relative } from "node:path"

/**
 * Each room's rank: a module may import from rooms of a lower rank and from its own room. Rooms of equal rank are
 * peers and may not import each other (orchestration, worker and the public task API stand side by side).
 */
export const ROOM_RANKS: Readonly<Record<string, number>> = {
  "src/domain": 0,
  "src/config": 0,
  "src/internal": 0,
  "src/telemetry": 1,
  "src/db": 2,
  "src/messaging": 3,
  "src/workflow": 4,
  "src/orchestration": 5,
  "src/worker": 5,
  "src/tasks": 5,
  "src/api": 6,
  "src/client": 7,
  "layers": 8,
  "src/examples": 9,
  "src/cli": 10,
  "entrypoints": 11
}

/** The room of a file (`src/db/SqlFunctions.ts` → `src/db`, `layers/engine.ts` → `layers`). */
export const roomOf = (file: string): string => {
  const parts = file.split("/")
  return parts[0] === "src" ? `${parts[0]}/${parts[1]}` : parts[0]!
}

const IMPORT = /(?:^|[\s;])(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm

/** One import: the module (relative to the repository) and whether it is loaded lazily (`import(…)`). */
export interface Import {
  readonly target: string
  readonly dynamic: boolean
}

/** The relative modules a source file imports (static, re-exports, side-effect and dynamic imports). */
export const importsOf = (file: string, text: string): ReadonlyArray<Import> => {
  const found: Array<Import> = []
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2] ?? match[3]
    if (spec !== undefined && spec.startsWith(".")) {
      found.push({ target: normalize(join(dirname(file), spec)), dynamic: match[2] !== undefined })
    }
  }
  return found
}

export type Graph = ReadonlyMap<string, ReadonlyArray<Import>>

/** Every `.ts` file under `roots` (relative to `base`) with the relative modules it imports. */
export const readGraph = (base: string, roots: ReadonlyArray<string>): Graph => {
  const graph = new Map<string, ReadonlyArray<Import>>()
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(base, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        graph.set(path, importsOf(path, readFileSync(join(base, path), "utf8")))
      }
    }
  }
  for (const root of roots) walk(root)
  return graph
}

/** Imports that break the direction: into a higher room, between peers, or into a room that has no rank. */
export const wrongWayImports = (graph: Graph): ReadonlyArray<string> => {
  const problems: Array<string> = []
  for (const [file, imports] of graph) {
    const from = roomOf(file)
    const fromRank = ROOM_RANKS[from]
    if (fromRank === undefined) {
      problems.push(`${file}: room ${from} has no rank (add it to ROOM_RANKS and docs/architecture.md)`)
      continue
    }
    for (const { target } of imports) {
      if (!graph.has(target)) continue // outside the library (a test helper, a JSON file): not its business here
      const to = roomOf(target)
      if (to === from) continue
      const toRank = ROOM_RANKS[to]
      if (toRank === undefined || toRank > fromRank) problems.push(`${file} imports upward: ${target}`)
      else if (toRank === fromRank) problems.push(`${file} imports its peer room ${to}: ${target}`)
    }
  }
  return problems
}

/**
 * The import cycles (strongly connected components of more than one file, or a file importing itself). A lazy
 * import (`import(…)`) is not part of a cycle: the CLI's command definitions load their implementation that way,
 * and the implementation imports the definition's flags; nothing is evaluated while the other is loading.
 */
export const importCycles = (graph: Graph): ReadonlyArray<ReadonlyArray<string>> => {
  let index = 0
  const indices = new Map<string, number>()
  const lowLinks = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const cycles: Array<ReadonlyArray<string>> = []
  const connect = (file: string) => {
    indices.set(file, index)
    lowLinks.set(file, index)
    index++
    stack.push(file)
    onStack.add(file)
    for (const { dynamic, target } of graph.get(file) ?? []) {
      if (dynamic || !graph.has(target)) continue
      if (!indices.has(target)) {
        connect(target)
        lowLinks.set(file, Math.min(lowLinks.get(file)!, lowLinks.get(target)!))
      } else if (onStack.has(target)) {
        lowLinks.set(file, Math.min(lowLinks.get(file)!, indices.get(target)!))
      }
    }
    if (lowLinks.get(file) === indices.get(file)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== file)
      const selfImport = (graph.get(file) ?? []).some((i) => i.target === file && !i.dynamic)
      if (component.length > 1 || selfImport) cycles.push(component.sort())
    }
  }
  for (const file of graph.keys()) if (!indices.has(file)) connect(file)
  return cycles
}

/** `file` relative to `base`, with forward slashes. */
export const relativeTo = (base: string, file: string) => relative(base, file).split("\\").join("/")
