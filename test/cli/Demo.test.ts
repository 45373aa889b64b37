/**
 * `tasker demo` and `tasker migrate` as child processes: the demo's JSON lines on the embedded database and on
 * PostgreSQL (fresh databases from `TestDatabase.ts`), and the migrations applied to a fresh database.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { databases, logLines, run } from "./Support.ts"

const db = databases()
afterAll(() => db.release(), 60_000)

interface DemoLine {
  readonly namespace: string
  readonly name: string
  readonly task_uuid: string
  readonly correlation_id: string
  readonly status: string
  readonly result: unknown
  readonly elapsed_ms: number
}

const KEYS = ["correlation_id", "elapsed_ms", "name", "namespace", "result", "status", "task_uuid"]
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Every stdout line is one JSON object with exactly the documented keys. */
const demoLines = (stdout: string): ReadonlyArray<DemoLine> => {
  const lines = stdout.split("\n").filter((l) => l.length > 0)
  return lines.map((line) => {
    const value = JSON.parse(line) as DemoLine
    expect(Object.keys(value).sort()).toEqual(KEYS)
    expect(value.task_uuid).toMatch(uuid)
    expect(value.correlation_id).toMatch(uuid)
    expect(typeof value.elapsed_ms).toBe("number")
    return value
  })
}

describe("tasker demo --json", () => {
  it("runs the linear workflow on the embedded database", async () => {
    const result = await run(["demo", "--workflow", "linear", "--n", "6", "--json"])
    expect(result.code, result.stderr).toBe(0)
    const [line, ...rest] = demoLines(result.stdout)
    expect(rest).toHaveLength(0)
    expect(line).toMatchObject({
      namespace: "rust_e2e_linear",
      name: "mathematical_sequence",
      status: "complete",
      result: "2821109907456"
    })
    // logs go to stderr, the first one names the database
    expect(logLines(result.stderr)[0]?.message).toBe(
      "Using the embedded database (in memory); set DATABASE_URL to use PostgreSQL"
    )
  }, 120_000)

  describe("on PostgreSQL", () => {
    let url = ""
    beforeAll(async () => {
      url = await db.create()
    }, 60_000)

    it("runs the linear workflow, then every example with --workflow all: five lines, new tasks", async () => {
      const linear = await run(["demo", "--workflow", "linear", "--n", "6", "--json"], { env: { DATABASE_URL: url } })
      expect(linear.code, linear.stderr).toBe(0)
      const [first, ...none] = demoLines(linear.stdout)
      expect(none).toHaveLength(0)
      expect(first).toMatchObject({ status: "complete", result: "2821109907456" })
      expect(logLines(linear.stderr)[0]?.message).toMatch(/^Using PostgreSQL \(DATABASE_URL\): database "tasker_test_/)
      expect(linear.stderr).not.toContain(url)

      const all = await run(["demo", "--workflow", "all", "--json"], { env: { DATABASE_URL: url } })
      expect(all.code, all.stderr).toBe(0)
      const lines = demoLines(all.stdout)
      expect(lines.map((l) => `${l.namespace}/${l.name}`)).toEqual([
        "rust_e2e_linear/mathematical_sequence",
        "rust_e2e_diamond/diamond_pattern",
        "rust_e2e_tree/hierarchical_tree",
        "rust_e2e_mixed_dag/complex_dag",
        "rust_e2e_order_fulfillment/business_workflow"
      ])
      for (const line of lines) expect(line.status).toBe("complete")
      // the same request again is a new task (a fresh idempotency key per run)
      expect(lines[0]!.task_uuid).not.toBe(first!.task_uuid)
      // n = 6: the linear workflow and the diamond end in n^16, the tree and the mixed DAG in n^64
      expect(lines.slice(0, 4).map((l) => l.result)).toEqual([
        "2821109907456",
        "2821109907456",
        (6n ** 64n).toString(),
        (6n ** 64n).toString()
      ])
      // the sample order ships by standard shipping
      expect(lines[4]!.result).toMatchObject({ shipping_status: "label_created" })
    }, 120_000)

    it("prints the steps and results without --json", async () => {
      const result = await run(["demo", "--workflow", "diamond", "--n", "4"], { env: { DATABASE_URL: url } })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^diamond: rust_e2e_diamond\/diamond_pattern complete in [\d.]+ ms/)
      expect(result.stdout).toContain(`result (diamond_end): "${(4n ** 16n).toString()}"`)
    }, 120_000)
  })
})

describe("tasker migrate", () => {
  it("applies the migrations to a fresh database, then finds nothing to do", async () => {
    const url = await db.create()
    const first = await run(["migrate"], { env: { DATABASE_URL: url } })
    expect(first.code, first.stderr).toBe(0)
    const applied = first.stdout.split("\n").filter((l) => l.length > 0)
    expect(applied.length).toBeGreaterThan(0)
    for (const line of applied) expect(line).toMatch(/^applied \d{4}_\w+$/)
    expect(applied[0]).toBe("applied 0001_registry")

    const second = await run(["migrate"], { env: { DATABASE_URL: url } })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe("database is up to date\n")
  }, 60_000)
})
