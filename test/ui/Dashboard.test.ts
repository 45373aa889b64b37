/**
 * The web dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by `playwright-core`) against
 * the real API server and engine on a fresh PostgreSQL database, serving the built dashboard (`npm run build:ui`).
 *
 * - the overview's per-state counts are the database's;
 * - a task whose step failed shows the failed node; retrying it from the page completes the task and the nodes
 *   turn green without a reload; cancel and resolve work, and a refusal shows the API's message;
 * - a step result carrying `<script>` and `<img onerror>` is shown as text and runs nothing;
 * - an unknown task is a not-found page; the templates page shows the DAG and refuses a bad context naming the field;
 * - the live stream: one that cannot connect, one cut mid-connection (the page says reconnecting…, resumes with
 *   Last-Event-ID and shows what it missed without a reload) and one that goes silent while staying open (dropped
 *   after three heartbeats), the last two through a proxy (`StreamProxy.ts`);
 * - with a token configured, the page without it gets no data and asks for the token.
 *
 * Each page is photographed into `screenshots/ui/*.png` (untracked), or into `docs/ui/*.png` (the pictures of
 * `docs/ui.md`) with `TASKER_UPDATE_SCREENSHOTS=1` (`npm run docs:screenshots`). Skipped, saying why, when
 * `/usr/bin/chromium` or the built dashboard is missing.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect, ManagedRuntime, type Schema } from "effect"
import type { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { findDashboardDirectory } from "../../src/api/DashboardAssets.ts"
import { TaskerClient } from "../../src/client/Client.ts"
import { Workflow } from "../../src/workflow/Workflow.ts"
import { apiTestLayer, baseUrl, Fragile } from "../api/Support.ts"
import { fixed } from "../support/Templates.ts"
import { headerOf, lastEventIdOf, startStreamProxy, type StreamProxy } from "./StreamProxy.ts"

const CHROMIUM = "/usr/bin/chromium"
/**
 * Where the screenshots go: `screenshots/ui/` (untracked), or the pictures of `docs/ui.md` in `docs/ui/` when
 * `TASKER_UPDATE_SCREENSHOTS=1` (`npm run docs:screenshots`), so that a test run leaves the tree clean.
 */
const SCREENSHOTS = fileURLToPath(
  new URL(process.env["TASKER_UPDATE_SCREENSHOTS"] === "1" ? "../../docs/ui/" : "../../screenshots/ui/", import.meta.url)
)
const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install chromium)`
  : findDashboardDirectory() === undefined
  ? "the dashboard is not built (npm run build:ui)"
  : undefined
if (missing !== undefined) console.warn(`test/ui/Dashboard.test.ts skipped: ${missing}`)

const TRACE_URL = "https://jaeger.example/trace/{traceId}"

const XSS_PAYLOAD = {
  note: "<script>window.__xss = 'script'</script>",
  image: "<img src=x onerror=\"window.__xss = 'img'\">"
}

/** One step whose result carries markup that would run if it were rendered as HTML. */
const Xss = Workflow.make({ namespace: "ui_test", name: "xss", version: "1.0.0", identityStrategy: "always_unique" })
  .step("echo", { run: () => Effect.succeed(XSS_PAYLOAD) })

/** One step whose result is larger than the page shows (truncated, with a download of the whole). */
const Big = Workflow.make({ namespace: "ui_test", name: "big", version: "1.0.0", identityStrategy: "always_unique" })
  .step("blob", { run: () => Effect.succeed({ blob: "x".repeat(60_000), marker_after_the_blob: "the end" }) })

const launch = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run"
    ]
  })

const shot = async (page: Page, name: string) => {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true })
}

/** The header's live-stream indicator once it says exactly `label`. */
const liveStatus = (page: Page, label: string) =>
  page.locator("[data-testid=live-status]", { hasText: new RegExp(`^${label}$`) })

/** A task of the linear example. */
const linearTask = (evenNumber: number) => ({
  namespace: "rust_e2e_linear",
  name: "mathematical_sequence",
  version: "1.0.0",
  context: { even_number: evenNumber }
})

/** The real server of `runtime` (its URL) and a Chromium; `close` ends both. */
const startServerAndBrowser = async (runtime: ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>) => ({
  url: await runtime.runPromise(baseUrl),
  browser: await launch()
})
const closeServerAndBrowser = async (runtime: ManagedRuntime.ManagedRuntime<never, unknown>, browser: Browser | undefined) => {
  await browser?.close()
  await runtime.dispose()
}

const newPage = async (browser: Browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const errors: Array<string> = []
  page.on("pageerror", (e) => errors.push(String(e)))
  return { page, errors }
}

describe.skipIf(missing !== undefined)("the dashboard in Chromium", () => {
  // heartbeats every 2 s: a stalled event stream is noticed after 6 s of silence
  const runtime = ManagedRuntime.make(
    apiTestLayer({ traceUrl: TRACE_URL, eventHeartbeatMs: 2_000 }, {}, { templates: [Xss, Big] })
  )
  const run = <A, E>(effect: Effect.Effect<A, E, TaskerClient | SqlClient.SqlClient>) => runtime.runPromise(effect)
  let browser: Browser
  let url = ""

  const createTask = (namespace: string, name: string, context: { readonly [key: string]: Schema.Json } = {}) =>
    run(Effect.gen(function*() {
      const client = yield* TaskerClient
      const created = yield* client.createTask({ namespace, name, version: "1.0.0", context })
      const task = yield* client.waitForCompletion(created.task_uuid, { timeout: "60 seconds" })
      return task
    }))

  beforeAll(async () => ({ url, browser } = await startServerAndBrowser(runtime)), 120_000)
  afterAll(() => closeServerAndBrowser(runtime, browser), 60_000)

  /** Runs `test` with a stream proxy in front of the server (`StreamProxy.ts`), closed afterwards. */
  const withStreamProxy = async (test: (proxy: StreamProxy) => Promise<void>) => {
    const proxy = await startStreamProxy(url)
    try {
      await test(proxy)
    } finally {
      await proxy.close()
    }
  }

  /**
   * A page of the dashboard at `path` reached through `proxy`, once its stream is live and has carried events
   * (another task ran), so that the page has an event id to resume from: the page and the last event's id.
   */
  const liveThroughProxy = async (proxy: StreamProxy, path: string) => {
    const { errors, page } = await newPage(browser)
    await page.goto(`${proxy.url}${path}`)
    await liveStatus(page, "live").waitFor({ timeout: 15_000 })
    await createTask("test_errors", "success_only", { run: crypto.randomUUID() })
    await expect.poll(() => lastEventIdOf(proxy.streams[0]?.received ?? ""), { timeout: 15_000 }).toBeDefined()
    // the hub publishes within a second of a transition: let the last of them arrive
    await page.waitForTimeout(2_000)
    return { errors, page, lastSeen: lastEventIdOf(proxy.streams.map((c) => c.received).join("")) }
  }

  it("the overview's counts are the database's; the tasks page lists them; a task UUID in the search opens it", async () => {
    const linear = await createTask("rust_e2e_linear", "mathematical_sequence", linearTask(6).context)
    expect(linear.status).toBe("complete")
    const blocked = await createTask(Fragile.namespace, Fragile.name)
    expect(blocked.status).toBe("blocked_by_failures")

    const rows = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<{ state: string; n: number }>`
        SELECT current_state AS state, count(*)::int AS n FROM tasker_tasks GROUP BY current_state`
    }))
    const expected = new Map(rows.map((r) => [r.state, r.n]))
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/`)
    await page.getByTestId("total-tasks").waitFor()
    for (const state of ["complete", "blocked_by_failures", "pending", "error", "cancelled"]) {
      expect(await page.getByTestId(`count-${state}`).getAttribute("data-count"), state).toBe(
        String(expected.get(state) ?? 0)
      )
    }
    await page.getByTestId("per-minute-chart").locator("canvas").first().waitFor()
    const overview = await run(Effect.flatMap(TaskerClient, (c) => c.api.dashboard.overview()))
    expect(await page.getByTestId("step-stats").textContent()).toContain(
      `${overview.steps.completed_last_hour} completed`
    )
    expect(await page.getByTestId("queues").locator("tbody tr").count()).toBe(overview.queues.length)
    expect(await page.getByTestId("processors").locator("tbody tr").count()).toBeGreaterThan(0)
    await shot(page, "overview")

    await page.getByRole("link", { name: "Tasks" }).click()
    await page.getByTestId("task-row").first().waitFor()
    expect(await page.getByTestId("task-row").count()).toBe(rows.reduce((n, r) => n + r.n, 0))
    await shot(page, "tasks")

    await page.getByTestId("search").fill(linear.task_uuid)
    await page.getByRole("button", { name: "Search" }).click()
    await page.getByTestId("task-uuid").filter({ hasText: linear.task_uuid }).waitFor()
    expect(await page.getByTestId("task-status").textContent()).toBe("complete")
    expect(new URL(page.url()).pathname).toBe(`/ui/tasks/${linear.task_uuid}`)
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)

  it("a failed step shows red; retrying it from the page completes the task and the nodes turn green without a reload", async () => {
    const task = await createTask(Fragile.namespace, Fragile.name)
    expect(task.status).toBe("blocked_by_failures")
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/tasks/${task.task_uuid}`)
    const breaks = page.getByTestId("dag-node-breaks")
    await breaks.waitFor()
    expect(await breaks.getAttribute("data-state")).toBe("error")
    expect(await page.getByTestId("dag-node-first").getAttribute("data-state")).toBe("complete")
    expect(await page.getByTestId("dag-node-last").getAttribute("data-state")).toBe("pending")
    await breaks.click()
    await page.getByTestId("step-panel").waitFor()
    expect(await page.getByTestId("json-breaks-error").textContent()).toContain("the input is wrong")
    await shot(page, "task-failed")

    // the live stream is connected (the page's updates come from it, not from a reload)
    await liveStatus(page, "live").waitFor({ timeout: 15_000 })
    // the operator fixes the cause, then retries from the page; a marker on window proves there was no reload
    fixed.add(task.task_uuid)
    await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 42))
    await page.getByTestId("retry-step").click()
    await page.getByTestId("confirm").click()
    await page.locator("[data-testid=dag-node-last][data-state=complete]").waitFor({ timeout: 45_000 })
    expect(await page.getByTestId("dag-node-breaks").getAttribute("data-state")).toBe("complete")
    await page.locator("[data-testid=task-status]", { hasText: /^complete$/ }).waitFor({ timeout: 15_000 })
    expect(await page.evaluate(() => (globalThis as unknown as { __marker?: number }).__marker)).toBe(42)
    await page.getByTestId("dag-node-last").click()
    expect(await page.getByTestId("json-last-result").textContent()).toContain("20")
    // the timeline has the steps' running segments and the audit trail names who retried the step
    await page.getByTestId("timeline-breaks").locator("[data-phase=running]").first().waitFor()
    await page.getByTestId("audit-trail").locator("tbody tr").first().waitFor()
    const trail = await run(Effect.flatMap(TaskerClient, (c) =>
      c.api.dashboard.transitions({ params: { task_uuid: task.task_uuid } })))
    await expect.poll(() => page.getByTestId("audit-trail").locator("tbody tr").count(), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(trail.transitions.length)
    expect(await page.getByTestId("audit-trail").textContent()).toContain("step breaks")
    const detail = await run(Effect.flatMap(TaskerClient, (c) => c.getTask(task.task_uuid)))
    const trace = page.getByTestId("trace-id")
    if (detail.trace_id === null) expect(await trace.textContent()).toBe("—")
    else {
      expect(await trace.locator("a").getAttribute("href")).toBe(TRACE_URL.replace("{traceId}", detail.trace_id))
    }
    await shot(page, "task-detail")
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)

  it("cancel and resolve work from the page, each after a confirmation; a refusal shows the API's message", async () => {
    const toCancel = await createTask(Fragile.namespace, Fragile.name)
    const toResolve = await createTask(Fragile.namespace, Fragile.name)
    const refused = await createTask(Fragile.namespace, Fragile.name)
    const { page, errors } = await newPage(browser)

    await page.goto(`${url}/ui/tasks/${toCancel.task_uuid}`)
    await page.getByTestId("cancel-task").click()
    await page.getByTestId("cancel-task-dialog").waitFor()
    await shot(page, "confirm-cancel")
    await page.getByTestId("confirm").click()
    await page.locator("[data-testid=task-status]", { hasText: /^cancelled$/ }).waitFor()
    const cancelled = await run(Effect.flatMap(TaskerClient, (c) => c.getTask(toCancel.task_uuid)))
    expect(cancelled.status).toBe("cancelled")

    await page.goto(`${url}/ui/tasks/${toResolve.task_uuid}`)
    await page.getByTestId("dag-node-breaks").click()
    await page.getByTestId("resolve-step").click()
    await page.getByTestId("resolve-result").fill("7")
    await page.getByTestId("confirm").click()
    await page.locator("[data-testid=dag-node-last][data-state=complete]").waitFor({ timeout: 45_000 })
    expect(await page.getByTestId("dag-node-breaks").getAttribute("data-state")).toBe("resolved_manually")
    const resolved = await run(Effect.flatMap(TaskerClient, (c) => c.getTask(toResolve.task_uuid)))
    expect(resolved.steps.find((s) => s.name === "last")?.results).toMatchObject({ result: 70 })

    // the dialog is open when someone else cancels the task: the API refuses (409) and the dialog says why
    await page.goto(`${url}/ui/tasks/${refused.task_uuid}`)
    await page.getByTestId("cancel-task").click()
    await run(Effect.flatMap(TaskerClient, (c) => c.cancelTask(refused.task_uuid)))
    await page.getByTestId("confirm").click()
    const message = await page.getByTestId("action-error").textContent()
    expect(message).toMatch(/^409 /)
    expect(message!.length).toBeGreaterThan(5)
    expect(errors).toEqual([])
    await page.close()
  }, 150_000)

  it("markup in a step result is shown as text and runs nothing", async () => {
    const task = await createTask(Xss.namespace, Xss.name)
    expect(task.status).toBe("complete")
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/tasks/${task.task_uuid}`)
    await page.getByTestId("dag-node-echo").click()
    const result = page.getByTestId("json-echo-result")
    await result.waitFor()
    const text = await result.textContent()
    expect(text).toContain(XSS_PAYLOAD.note)
    expect(text).toContain("<img src=x onerror=")
    expect(await page.getByTestId("step-panel").locator("img, script").count()).toBe(0)
    // give an image's error handler time to fire, had one been created
    await page.waitForTimeout(500)
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: string }).__xss)).toBeUndefined()
    await shot(page, "xss-as-text")
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  it("a huge result is cut in the view with a download of the whole JSON", async () => {
    const task = await createTask(Big.namespace, Big.name)
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/tasks/${task.task_uuid}`)
    await page.getByTestId("dag-node-blob").click()
    const shown = await page.getByTestId("json-blob-result").locator("pre").textContent()
    expect(shown!.length).toBeLessThan(25_000)
    expect(shown).toMatch(/… \(\d+ more characters\)$/)
    expect(shown).not.toContain("the end")
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("download-blob-result").click()
    ])
    expect(download.suggestedFilename()).toBe("blob-result.json")
    const path = await download.path()
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ blob: "x".repeat(60_000), marker_after_the_blob: "the end" })
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  it("a live stream that cannot connect says reconnecting… and goes live once it can", async () => {
    const { page, errors } = await newPage(browser)
    // the stream's requests fail (as when the server is unreachable): the page says so and keeps trying
    await page.route("**/v1/events**", (route) => route.abort("connectionreset"))
    await page.goto(`${url}/ui/`)
    const live = page.getByTestId("live-status")
    await liveStatus(page, "reconnecting…").waitFor({ timeout: 15_000 })
    await page.getByTestId("total-tasks").waitFor()
    await shot(page, "reconnecting")
    // the server is back: the next attempt (backoff 1 s, 2 s, 4 s, …) connects
    await page.unroute("**/v1/events**")
    await liveStatus(page, "live").waitFor({ timeout: 40_000 })
    expect(await live.textContent()).toBe("live")
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  it("a stream cut mid-connection says reconnecting…, resumes with Last-Event-ID and shows what it missed, without a reload", async () => {
    const task = await createTask(Fragile.namespace, Fragile.name)
    expect(task.status).toBe("blocked_by_failures")
    // the page reaches the server through a proxy that can cut its event stream
    await withStreamProxy(async (proxy) => {
      const { errors, lastSeen, page } = await liveThroughProxy(proxy, `/ui/tasks/${task.task_uuid}`)
      await page.getByTestId("dag-node-breaks").waitFor()
      await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 42))

      // the connection drops mid-stream, and the server stays unreachable for a while
      proxy.block(true)
      proxy.cut()
      await liveStatus(page, "reconnecting…").waitFor({ timeout: 15_000 })
      // meanwhile the operator fixes the cause and retries the step through the API: the page misses those events
      fixed.add(task.task_uuid)
      const detail = await run(Effect.flatMap(TaskerClient, (c) => c.getTask(task.task_uuid)))
      const breaks = detail.steps.find((s) => s.name === "breaks")!
      await run(Effect.flatMap(TaskerClient, (c) => c.retryStep(task.task_uuid, breaks.step_uuid)))
      const done = await run(Effect.flatMap(TaskerClient, (c) => c.waitForCompletion(task.task_uuid, { timeout: "60 seconds" })))
      expect(done.status).toBe("complete")
      const before = proxy.streams.length

      // the server is reachable again: the next attempt resumes from the last event the page received
      proxy.block(false)
      await liveStatus(page, "live").waitFor({ timeout: 40_000 })
      expect(proxy.streams.length).toBe(before + 1)
      const resumed = proxy.streams.at(-1)!
      expect(headerOf(resumed.head, "last-event-id")).toBe(lastSeen)
      // the transitions it missed came over the resumed stream, and the page shows them
      await expect.poll(() => resumed.received.includes(task.task_uuid), { timeout: 15_000 }).toBe(true)
      await page.locator("[data-testid=dag-node-last][data-state=complete]").waitFor({ timeout: 20_000 })
      await page.locator("[data-testid=task-status]", { hasText: /^complete$/ }).waitFor({ timeout: 15_000 })
      expect(await page.evaluate(() => (globalThis as unknown as { __marker?: number }).__marker)).toBe(42)
      expect(errors).toEqual([])
      await page.close()
    })
  }, 150_000)

  it("a stream that goes silent (a dead network path that stays open) is dropped after three heartbeats and resumed", async () => {
    await withStreamProxy(async (proxy) => {
      const { errors, lastSeen, page } = await liveThroughProxy(proxy, "/ui/")
      // from now on nothing passes on the open connection, and nothing closes it
      proxy.stall()
      const stalledAt = Date.now()
      await liveStatus(page, "reconnecting…").waitFor({ timeout: 20_000 })
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(4_000)
      await liveStatus(page, "live").waitFor({ timeout: 15_000 })
      expect(proxy.streams).toHaveLength(2)
      expect(headerOf(proxy.streams[1]!.head, "last-event-id")).toBe(lastSeen)
      expect(errors).toEqual([])
      await page.close()
    })
  }, 90_000)

  it("dead letters are listed with their payload as text; re-drive puts one back on its queue, discard deletes one", async () => {
    const ids = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT tasker_create_queue('ui_test_parked')`
      const made: Array<string> = []
      for (const n of [1, 2]) {
        const [sent] = yield* sql<{ msg_id: string }>`
          SELECT tasker_send('ui_test_parked', ${JSON.stringify({ n, note: "<b>bold?</b>" })}::jsonb)::text AS msg_id`
        yield* sql`SELECT tasker_archive('ui_test_parked', ${sent!.msg_id}::bigint, 'read 6 times without being processed', true)`
        made.push(sent!.msg_id)
      }
      return made
    }))
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/dead-letters?queue=ui_test_parked`)
    await page.getByTestId(`dead-letter-ui_test_parked-${ids[0]}`).waitFor()
    expect(await page.getByTestId(`dead-letter-ui_test_parked-${ids[1]}`).textContent()).toContain(
      "read 6 times without being processed"
    )
    expect(await page.getByTestId(`json-message-${ids[0]}`).textContent()).toContain("<b>bold?</b>")
    await shot(page, "dead-letters")

    await page.getByTestId(`redrive-${ids[0]}`).click()
    await page.getByTestId("confirm").click()
    await page.getByTestId(`dead-letter-ui_test_parked-${ids[0]}`).waitFor({ state: "detached" })
    await page.getByTestId(`discard-${ids[1]}`).click()
    await page.getByTestId("confirm").click()
    await page.getByTestId("no-dead-letters").waitFor()
    const { queued, archived } = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const queued = yield* sql<{ message: unknown }>`
        SELECT message FROM tasker_queue_messages WHERE queue_name = 'ui_test_parked'`
      const archived = yield* sql`SELECT 1 FROM tasker_queue_archive WHERE queue_name = 'ui_test_parked'`
      return { queued, archived }
    }))
    expect(queued.map((q) => q.message)).toEqual([{ n: 1, note: "<b>bold?</b>" }])
    expect(archived).toEqual([])
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  it("an unknown task is a not-found page; the templates page shows the DAG and names a bad context's field", async () => {
    const { page, errors } = await newPage(browser)
    await page.goto(`${url}/ui/tasks/01900000-0000-7000-8000-000000000000`)
    await page.getByTestId("not-found").waitFor()
    await shot(page, "not-found")

    await page.goto(`${url}/ui/templates`)
    await page.getByTestId("template-rust_e2e_linear-mathematical_sequence").click()
    await page.getByTestId("template-detail").waitFor()
    await page.getByTestId("dag-node-linear_step_4").waitFor()
    const linearCount = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM tasker_tasks t JOIN tasker_named_tasks nt USING (named_task_uuid)
        WHERE nt.name = 'mathematical_sequence'`
      return row!.n
    }))
    expect(await page.getByTestId("task-count").textContent()).toBe(
      `${linearCount} task${linearCount === 1 ? "" : "s"} of this template`
    )
    expect(await page.getByTestId("retry-policies").locator("tbody tr").count()).toBe(4)
    await page.getByTestId("create-context").fill(`{"even_number": 7}`)
    await page.getByTestId("create-task").click()
    expect(await page.getByTestId("create-error").textContent()).toContain("context.even_number")
    await shot(page, "templates")

    await page.getByTestId("create-context").fill(`{"even_number": 4}`)
    await page.getByTestId("create-task").click()
    await page.getByTestId("task-uuid").waitFor()
    expect(new URL(page.url()).pathname).toMatch(/^\/ui\/tasks\/[0-9a-f-]{36}$/)
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)
})

describe.skipIf(missing !== undefined)("the dashboard with a token configured", () => {
  const TOKEN = "ui-test-token-7c1f"
  const runtime = ManagedRuntime.make(apiTestLayer({ token: TOKEN }, { token: TOKEN }))
  let browser: Browser
  let url = ""

  beforeAll(async () => ({ url, browser } = await startServerAndBrowser(runtime)), 120_000)
  afterAll(() => closeServerAndBrowser(runtime, browser), 60_000)

  it("gets no data without the token, asks for it, and shows the data once given it", async () => {
    await runtime.runPromise(Effect.flatMap(TaskerClient, (c) => c.createTask(linearTask(8))))
    const { page, errors } = await newPage(browser)
    const statuses: Array<string> = []
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname
      if (path.startsWith("/v1/")) statuses.push(`${path} ${r.status()}`)
    })
    const response = await page.goto(`${url}/ui/`)
    expect(response?.status()).toBe(200)
    await page.getByTestId("token-prompt").waitFor()
    expect(await page.getByTestId("total-tasks").count()).toBe(0)
    expect(await page.locator("[data-testid^=count-]").count()).toBe(0)
    expect(statuses.length).toBeGreaterThan(0)
    // every data call was refused, the live stream's too
    expect(statuses.filter((s) => !/ 401$/.test(s))).toEqual([])
    expect(statuses.some((s) => s.startsWith("/v1/overview "))).toBe(true)
    await expect.poll(() => statuses.some((s) => s.startsWith("/v1/events ")), { timeout: 10_000 }).toBe(true)
    await shot(page, "token-prompt")

    await page.getByTestId("token-input").fill(TOKEN)
    await page.getByTestId("token-submit").click()
    await page.getByTestId("total-tasks").waitFor()
    expect(await page.getByTestId("total-tasks").textContent()).toContain("1 in all")
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length)).toBe(1)
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)
})
