/**
 * Summarizes a V8 CPU profile (`.cpuprofile`, as written by `node --cpu-prof`): the functions with the most self
 * time, the most inclusive time, and self time by origin (a package under node_modules, Node's internals, the
 * project's own directories). Pure `summarizeCpuProfile`, plus a CLI:
 *
 *   node bench/cpuprofile-summary.ts profiles/engine-e2e.cpuprofile [--top 40] [--out summary.txt]
 */
import { readFileSync, writeFileSync } from "node:fs"
import { relative } from "node:path"
import { fileURLToPath } from "node:url"
import { flagValue, repoRoot } from "./support/Harness.ts"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const shortUrl = (url: string): string => {
  if (url === "") return ""
  const path = url.startsWith("file://") ? fileURLToPath(url) : url
  return path.startsWith("/") ? relative(repoRoot, path) : path
}

/**
 * The profile with every script URL of this checkout made relative to the repository (`file:///…/src/x.ts` →
 * `src/x.ts`), so a committed profile names no machine's paths. Node's own (`node:…`) and empty URLs are kept.
 */
export const relativeToRepo = (profile: CpuProfile): CpuProfile => ({
  ...profile,
  nodes: profile.nodes.map((n) => ({ ...n, callFrame: { ...n.callFrame, url: shortUrl(n.callFrame.url) } }))
})

/**
 * Where code comes from: `node_modules/<package>`, `node:internal`, V8's own entries (`(garbage collector)`, …),
 * or the first directories of the project's path.
 */
const originOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node:internal"
  const path = shortUrl(url)
  const nm = path.lastIndexOf("node_modules/")
  if (nm !== -1) {
    const rest = path.slice(nm + "node_modules/".length).split("/")
    return `node_modules/${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  return path.split("/").slice(0, 2).join("/")
}

const keyOf = (f: CallFrame) => `${f.functionName || "(anonymous)"}\t${shortUrl(f.url)}:${f.lineNumber + 1}`

export const summarizeCpuProfile = (profile: CpuProfile, options: { readonly top?: number; readonly title?: string } = {}): string => {
  const top = options.top ?? 40
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const origins = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const node = byId.get(id)
    if (node === undefined) return
    total += delta
    const key = keyOf(node.callFrame)
    self.set(key, (self.get(key) ?? 0) + delta)
    const origin = originOf(node.callFrame.url, node.callFrame.functionName)
    origins.set(origin, (origins.get(origin) ?? 0) + delta)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(byId.get(at)!.callFrame)
      if (!seen.has(k)) {
        seen.add(k)
        inclusive.set(k, (inclusive.get(k) ?? 0) + delta)
      }
    }
  })
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(9)
  const pct = (us: number) => `${((100 * us) / Math.max(total, 1)).toFixed(1).padStart(5)} %`
  const table = (entries: Map<string, number>, n: number) =>
    [...entries].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => {
      const [name, where] = k.split("\t")
      return `${ms(us)} ms ${pct(us)}  ${name}${where === undefined || where === ":0" ? "" : `  (${where})`}`
    })
  const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((s, [, us]) => s + us, 0)
  return [
    options.title ?? "CPU profile",
    `sampled ${(total / 1000).toFixed(0)} ms over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms; ` +
    `idle ${pct(idle).trim()} (busy ${((total - idle) / 1000).toFixed(0)} ms)`,
    "",
    `== top ${top} functions by self time ==`,
    ...table(self, top),
    "",
    `== self time by origin ==`,
    ...table(origins, 25),
    "",
    `== top ${top} functions by inclusive time (self + callees) ==`,
    ...table(inclusive, top)
  ].join("\n") + "\n"
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  const file = argv.find((a, i) => !a.startsWith("--") && (i === 0 || !["--top", "--out"].includes(argv[i - 1]!)))
  if (file === undefined) {
    console.error("usage: node bench/cpuprofile-summary.ts <file.cpuprofile> [--top 40] [--out summary.txt]")
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const text = summarizeCpuProfile(profile, { top: Number(flagValue(argv, "--top") ?? 40), title: `CPU profile ${file}` })
  const out = flagValue(argv, "--out")
  if (out === undefined) process.stdout.write(text)
  else writeFileSync(out, text)
}
