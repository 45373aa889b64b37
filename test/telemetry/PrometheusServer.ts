/**
 * A real Prometheus server for tests: `prometheus` from PATH with a temporary configuration and data directory on a
 * free loopback port, scraping the given targets every second, with rule files loaded; and the PromQL read out of
 * docs/observability/promql.md and the Grafana dashboard, so that what the documents say is what the tests run.
 */
import { spawn, spawnSync } from "node:child_process"
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { closedPort, root } from "../cli/Support.ts"

/**
 * The absolute path of `name` on PATH. Throws with what to install when it is missing: the tests that need
 * Prometheus fail rather than skip.
 */
export const requireOnPath = (name: string): string => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  throw new Error(
    `\`${name}\` is not on PATH. The Prometheus tests need Prometheus 2.x and promtool: on Debian or Ubuntu, ` +
      `\`apt-get install prometheus\`; elsewhere, put the official release's \`prometheus\` and \`promtool\` on PATH ` +
      `(README.md, "Tests")`
  )
}

/** Runs `promtool ...args` in `cwd` to its end. */
export const promtool = (args: ReadonlyArray<string>, cwd = root) => {
  const result = spawnSync(requireOnPath("promtool"), args, { cwd, encoding: "utf8", timeout: 30_000 })
  return { code: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}` }
}

/** One sample of an instant query's vector result: its labels and its value (NaN and ±Inf included). */
export interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: number
}

export interface QueryResult {
  readonly resultType: string
  readonly samples: ReadonlyArray<Sample>
}

export interface PrometheusServer {
  readonly url: string
  /** `GET /api/v1/query` at the current time; rejects when Prometheus answers with an error (a bad expression) */
  readonly query: (expr: string) => Promise<QueryResult>
  /** polls `query(expr)` until `accept` holds (rejects after `timeout` ms with the last result) */
  readonly waitFor: (expr: string, accept: (r: QueryResult) => boolean, timeout?: number) => Promise<QueryResult>
  /** `GET /api/v1/rules`: the rule groups as Prometheus reports them */
  readonly rules: () => Promise<ReadonlyArray<RuleGroup>>
  readonly stop: () => Promise<void>
}

export interface RuleGroup {
  readonly name: string
  readonly rules: ReadonlyArray<{
    readonly name: string
    readonly type: string
    readonly health: string
    readonly lastError?: string
    readonly state?: string
  }>
}

const parseValue = (v: string): number => (v === "NaN" ? NaN : v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v))

/**
 * Starts Prometheus scraping `jobs` (job name → `host:port` targets, path /metrics) every second, evaluating the
 * rules of `ruleFiles` every second.
 */
export const startPrometheus = async (options: {
  readonly jobs: Readonly<Record<string, ReadonlyArray<string>>>
  readonly ruleFiles?: ReadonlyArray<string>
  /** more command-line flags, e.g. `--enable-feature=exemplar-storage` */
  readonly flags?: ReadonlyArray<string>
}): Promise<PrometheusServer> => {
  const binary = requireOnPath("prometheus")
  const dir = mkdtempSync(join(tmpdir(), "tasker-prometheus-"))
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }]
    }))
  }
  // JSON is YAML
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2))
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await closedPort()
    const url = `http://127.0.0.1:${port}`
    const child = spawn(binary, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
      ...(options.flags ?? [])
    ], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const exited = new Promise<void>((resolve) => child.on("close", () => resolve()))
    const deadline = Date.now() + 20_000
    let ready = false
    while (Date.now() < deadline && child.exitCode === null) {
      ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)
      if (ready) break
      await new Promise((r) => setTimeout(r, 100))
    }
    if (!ready) {
      child.kill("SIGKILL")
      await exited
      lastError = new Error(`prometheus did not become ready on ${url}:\n${stderr}`)
      continue
    }
    const query = async (expr: string): Promise<QueryResult> => {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`)
      const body = (await response.json()) as {
        status: string
        error?: string
        data?: { resultType: string; result: unknown }
      }
      if (body.status !== "success" || body.data === undefined) {
        throw new Error(`Prometheus refused ${expr}: ${body.error ?? JSON.stringify(body)}`)
      }
      const { resultType, result } = body.data
      if (resultType === "scalar") {
        return { resultType, samples: [{ metric: {}, value: parseValue((result as [number, string])[1]) }] }
      }
      if (resultType !== "vector") throw new Error(`${expr}: unexpected result type ${resultType}`)
      const samples = (result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({
        metric: s.metric,
        value: parseValue(s.value[1])
      }))
      return { resultType, samples }
    }
    const waitFor = async (expr: string, accept: (r: QueryResult) => boolean, timeout = 30_000) => {
      const end = Date.now() + timeout
      let last: QueryResult | undefined
      for (;;) {
        last = await query(expr)
        if (accept(last)) return last
        if (Date.now() > end) {
          throw new Error(`${expr} did not reach the expected result in ${timeout} ms; last: ${JSON.stringify(last.samples)}`)
        }
        await new Promise((r) => setTimeout(r, 250))
      }
    }
    const rules = async () => {
      const body = (await (await fetch(`${url}/api/v1/rules`)).json()) as { data: { groups: ReadonlyArray<RuleGroup> } }
      return body.data.groups
    }
    return {
      url,
      query,
      waitFor,
      rules,
      stop: async () => {
        if (child.exitCode === null) child.kill("SIGTERM")
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))])
        if (child.exitCode === null) {
          child.kill("SIGKILL")
          await exited
        }
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw lastError
}

/** One PromQL expression of a markdown document, with the heading of the section it is in. */
export interface DocExpression {
  readonly section: string
  readonly expr: string
}

/**
 * Every expression of the ```promql blocks of a markdown text: `#` comments removed, an indented line continues
 * the expression above it.
 */
export const promqlExpressions = (markdown: string): ReadonlyArray<DocExpression> => {
  const out: Array<DocExpression> = []
  let section = ""
  let inBlock = false
  let current: string | undefined
  const flush = () => {
    if (current !== undefined) out.push({ section, expr: current.replace(/\s+/g, " ").trim() })
    current = undefined
  }
  for (const line of markdown.split("\n")) {
    if (!inBlock) {
      const heading = line.match(/^#{1,6} (.*)$/)
      if (heading !== null) section = heading[1]!.trim()
      if (/^```promql\s*$/.test(line)) inBlock = true
      continue
    }
    if (/^```\s*$/.test(line)) {
      flush()
      inBlock = false
      continue
    }
    const code = line.replace(/#.*$/, "")
    if (code.trim() === "") {
      flush()
      continue
    }
    if (/^\s/.test(code) && current !== undefined) current += ` ${code.trim()}`
    else {
      flush()
      current = code.trim()
    }
  }
  return out
}

/** One query of a Grafana dashboard panel. */
export interface PanelQuery {
  readonly panel: string
  readonly refId: string
  readonly expr: string
}

interface Panel {
  readonly title?: string
  readonly type?: string
  readonly targets?: ReadonlyArray<{ readonly expr?: string; readonly refId?: string }>
  readonly panels?: ReadonlyArray<Panel>
}

/** Every `targets[].expr` of a dashboard's panels, those nested in collapsed rows included. */
export const dashboardQueries = (dashboard: { readonly panels?: ReadonlyArray<Panel> }): ReadonlyArray<PanelQuery> => {
  const out: Array<PanelQuery> = []
  const visit = (panels: ReadonlyArray<Panel>) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined && target.expr.trim() !== "") {
          out.push({ panel: panel.title ?? "", refId: target.refId ?? "", expr: target.expr })
        }
      }
      visit(panel.panels ?? [])
    }
  }
  visit(dashboard.panels ?? [])
  return out
}

/**
 * Grafana's variables replaced as Grafana would for "All" and a range that covers a short test: `$__rate_interval`
 * (and `$__interval`, `$__range`) by `rateInterval`, a multi-value variable with "All" by its `allValue` (`.*`).
 */
export const substituteGrafanaVariables = (
  expr: string,
  values: Readonly<Record<string, string>>,
  rateInterval: string
): string =>
  expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range|\$\{__range\}/g, rateInterval)
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
      const name = a ?? b ?? ""
      const value = values[name]
      if (value === undefined) throw new Error(`no value for the Grafana variable ${whole} in ${expr}`)
      return value
    })

export const readRepoFile = (path: string) => readFileSync(join(root, path), "utf8")
