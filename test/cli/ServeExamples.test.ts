/**
 * `tasker serve --examples` (what `npm start` runs): into a database without tasks it submits the example tasks,
 * says so in its banner, and they end as the examples say (three complete, one blocked by its failed step); started
 * again on the same database it submits nothing more. `--examples` with templates that leave out the examples is
 * refused naming the flag.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exampleTaskRequests } from "../../src/examples/ExampleTasks.ts"
import { cliOnMigratedDatabase, expectRefusedWithOneLine, type Running } from "./Support.ts"

const cli = cliOnMigratedDatabase()

beforeAll(cli.setup, 60_000)
afterAll(cli.teardown, 60_000)

interface Listed {
  readonly tasks: ReadonlyArray<{ readonly namespace: string; readonly name: string; readonly status: string; readonly tags: ReadonlyArray<string> }>
  readonly pagination: { readonly total_count: number }
}

const listTasks = async (url: string, query = ""): Promise<Listed> =>
  (await (await fetch(`${url}/v1/tasks?per_page=100${query}`)).json()) as Listed

const FINAL: Record<string, string> = {
  "rust_e2e_diamond/diamond_pattern": "complete",
  "rust_e2e_order_fulfillment/business_workflow": "complete",
  "test_errors/retryable_error_success": "complete",
  "test_errors/permanent_error_only": "blocked_by_failures"
}

const serveWithExamples = async (): Promise<{ server: Running; url: string }> => {
  const server = cli.launch(["serve", "--port", "0", "--examples"])
  const url = (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 120_000))[1]!
  await server.waitForStdout(/Then read it:/, 30_000)
  return { server, url }
}

describe("tasker serve --examples", () => {
  it("submits the example tasks into an empty database, which end as the examples say; a restart adds none", async () => {
    expect(Object.keys(FINAL).sort()).toEqual(exampleTaskRequests.map((r) => `${r.namespace}/${r.name}`).sort())
    const first = await serveWithExamples()
    const banner = first.server.stdout().split("\n").find((l) => l.startsWith("Example tasks"))
    expect(banner).toBe(
      `Example tasks (--examples): submitted 4 into the empty database; see them at ${first.url}/ui/tasks`
    )
    await expect.poll(async () => {
      const { tasks } = await listTasks(first.url, "&tag=example")
      return Object.fromEntries(tasks.map((t) => [`${t.namespace}/${t.name}`, t.status]))
    }, { timeout: 60_000, interval: 500 }).toEqual(FINAL)
    const stopped = await first.server.stop("SIGTERM")
    expect(stopped.code, stopped.stderr).toBe(0)

    const second = await serveWithExamples()
    expect(second.server.stdout()).toContain("Example tasks (--examples): none submitted, the database has tasks already")
    const all = await listTasks(second.url)
    expect(all.pagination.total_count).toBe(4)
    expect(all.tasks.every((t) => t.tags.includes("example"))).toBe(true)
    await second.server.stop("SIGTERM")
  }, 240_000)

  it("is refused, naming the flag, when the hosted templates leave out the examples", async () => {
    await expectRefusedWithOneLine([
      {
        name: "--templates without the examples",
        args: ["serve", "--port", "0", "--examples", "--templates", "test/cli/fixtures/yaml", "--handlers",
          "test/cli/fixtures/yaml-handlers.ts"],
        mentions: ["--examples", "rust_e2e_diamond/diamond_pattern@1.0.0", "--templates examples"]
      }
    ], { DATABASE_URL: cli.url() })
  }, 60_000)
})
