/**
 * A server busy with large lists still answers its health probe: 10 clients (in a separate process) list 100
 * tasks with 200 KB contexts as fast as they can, first plainly, then with `include=context` (the worst case),
 * while the test probes `/health`. Before lists were bounded, 10 concurrent lists of 100 × 1 MiB contexts took such a process to
 * 5.4 GB of memory and `/health` to 11 s. Now the default list carries no contexts and `/health` answers within
 * 50 ms (95th percentile); a list that asks for contexts carries at most the context budget (1 MiB), such lists
 * run one at a time, and `/health` stays within 250 ms. The numbers are printed.
 */
import { spawn } from "node:child_process"
import { afterAll, describe, expect, it } from "vitest"
import { databases, type Running, start } from "../cli/Support.ts"

const SUCCESS = { namespace: "test_errors", name: "success_only", version: "1.0.0" } as const
const TASKS = 100
const CONTEXT_BYTES = 200_000
const CLIENTS = 10
const LOAD_MS = 8_000

/**
 * `CLIENTS` concurrent clients in one separate process (a Node script), each listing `url` until `stopAt` (epoch
 * ms) and reading every byte; resolves with the number of lists.
 */
const clientProcess = (url: string, stopAt: number) =>
  new Promise<number>((resolve, reject) => {
    const script = `
      let lists = 0
      const client = async () => {
        while (Date.now() < ${stopAt}) {
          const response = await fetch(process.env.LIST_URL)
          const body = await response.arrayBuffer()
          if (response.status !== 200) throw new Error("list answered " + response.status)
          lists++
        }
      }
      await Promise.all(Array.from({ length: ${CLIENTS} }, client))
      console.log(lists)`
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, LIST_URL: url },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString()))
    child.on("exit", (code) => code === 0 ? resolve(Number(out.trim())) : reject(new Error(`clients exited ${code}`)))
  })

/** `CLIENTS` clients listing `listUrl` for `LOAD_MS` while `/health` is probed every 50 ms. */
const probeUnderLoad = async (url: string, listUrl: string) => {
  const stopAt = Date.now() + LOAD_MS
  const clients = clientProcess(listUrl, stopAt)
  await new Promise((r) => setTimeout(r, 1_000))
  const probes: Array<number> = []
  while (Date.now() < stopAt - 200) {
    const t0 = performance.now()
    const response = await fetch(`${url}/health`)
    await response.text()
    expect(response.status).toBe(200)
    probes.push(performance.now() - t0)
    await new Promise((r) => setTimeout(r, 50))
  }
  const lists = await clients
  const sorted = [...probes].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const summary = `${lists} lists in ${LOAD_MS / 1000} s by ${CLIENTS} clients, ${sorted.length} /health probes: ` +
    `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${at(1).toFixed(1)} ms`
  return { lists, probes: sorted.length, p95: at(0.95), summary }
}

describe("health under list load", () => {
  const db = databases()
  let server: Running | undefined
  afterAll(async () => {
    if (server !== undefined && server.child.exitCode === null) await server.stop("SIGTERM")
    await db.release()
  })

  it("/health answers within 50 ms while 10 clients list 100 tasks with 200 KB contexts", async () => {
    const databaseUrl = await db.create()
    server = start(["serve", "--port", "0"], {
      // the lists are the load under test: the per-client rate limit (docs/security.md) would answer most with 429s
      env: { DATABASE_URL: databaseUrl, LOG_LEVEL: "warn", TASKER_API_RATE_LIMIT: "1000000", TASKER_API_RATE_BURST: "1000000" },
      timeout: 300_000
    })
    const url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
    const marker = crypto.randomUUID()
    for (let i = 0; i < TASKS; i += 5) {
      await Promise.all(Array.from({ length: 5 }, async (_, j) => {
        const response = await fetch(`${url}/v1/tasks`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            ...SUCCESS,
            parent_correlation_id: marker,
            context: { case: `big ${i + j}`, pad: "y".repeat(CONTEXT_BYTES) }
          })
        })
        expect(response.status).toBe(201)
      }))
    }
    const listUrl = `${url}/v1/tasks?parent_correlation_id=${marker}&per_page=100&include=context`
    const sample = await (await fetch(listUrl)).json() as { tasks: Array<{ context?: unknown }> }
    expect(sample.tasks).toHaveLength(100)
    // the 1 MiB budget holds 5 of the 200 KB contexts
    expect(sample.tasks.filter((t) => t.context !== undefined).length).toBe(5)

    const plain = await probeUnderLoad(url, `${url}/v1/tasks?parent_correlation_id=${marker}&per_page=100`)
    const withContexts = await probeUnderLoad(url, listUrl)
    console.log(`health under list load: default lists: ${plain.summary}; include=context: ${withContexts.summary}`)
    // the plain list (what any client gets by default): /health within 50 ms. Lists that ask for contexts move
    // 1 MiB each, one at a time, with the process busy about two thirds of the time: /health waits its turn behind
    // at most a few of them (measured p95 ~30–80 ms on 2 shared cores), never the seconds it took before.
    for (const [{ lists, p95, probes, summary }, bound] of [[plain, 50], [withContexts, 250]] as const) {
      expect(lists, summary).toBeGreaterThan(CLIENTS)
      expect(probes, summary).toBeGreaterThan(50)
      expect(p95, summary).toBeLessThan(bound)
    }
  }, 300_000)
})
