/**
 * The operations bundle (ops/, docs/observability/operations.md) holds together: `docker-compose config` accepts
 * ops/docker-compose.yml, `promtool check config` accepts its Prometheus configuration, and the pieces point at
 * each other — every role is scraped on the port it is told to serve /metrics on, the alert rules are loaded,
 * Grafana gets the data source and the dashboard, and the engine's OTLP reaches the collector, whose traces reach
 * Jaeger. No container is started (CI has no Docker daemon); test/telemetry/RealPrometheus.test.ts runs the
 * dashboard's queries and the rules against a real Prometheus.
 *
 * Needs `docker-compose` (Debian: `apt-get install docker-compose`) and `promtool` on PATH; fails without them.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { root } from "../cli/Support.ts"
import { promtool, readRepoFile, requireOnPath } from "./PrometheusServer.ts"

interface Service {
  readonly build?: { readonly context: string; readonly dockerfile?: string }
  readonly image?: string
  readonly command?: ReadonlyArray<string>
  readonly environment?: Readonly<Record<string, string>>
  readonly volumes?: ReadonlyArray<string | { readonly source: string; readonly target: string }>
}

const compose = () => {
  const binary = requireOnPath("docker-compose")
  const result = spawnSync(binary, ["-f", "ops/docker-compose.yml", "config"], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })
  return { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" }
}

const TASKER_SERVICES = ["api", "orchestrator", "worker-1", "worker-2"] as const

describe("ops/docker-compose.yml", () => {
  const result = compose()
  const services = result.code === 0
    ? (parse(result.stdout) as { services: Record<string, Service> }).services
    : {}

  it("is accepted by docker-compose config", () => {
    expect(result.code, result.stderr).toBe(0)
    expect(Object.keys(services).sort()).toEqual(
      ["api", "grafana", "jaeger", "migrate", "orchestrator", "otel-collector", "postgres", "prometheus", "worker-1", "worker-2"]
    )
  })

  it("runs the engine's roles from the repository's Dockerfile, on the compose PostgreSQL, exporting OTLP to the collector", () => {
    const roles = Object.fromEntries(TASKER_SERVICES.map((name) => [name, services[name]?.command?.slice(2).join(" ")]))
    expect(roles).toEqual({
      api: "serve --roles api",
      orchestrator: "orchestrator",
      "worker-1": "worker",
      "worker-2": "worker"
    })
    for (const name of [...TASKER_SERVICES, "migrate"]) {
      const service = services[name]!
      expect(service.build?.context.replace(/\/$/, ""), name).toBe(root.replace(/\/$/, ""))
      expect(service.build?.dockerfile ?? "Dockerfile", name).toBe("Dockerfile")
      expect(service.command?.slice(0, 2), name).toEqual(["node", "src/cli/main.ts"])
      expect(service.environment?.DATABASE_URL, name).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//)
    }
    for (const name of TASKER_SERVICES) {
      const env = services[name]!.environment!
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe("http://otel-collector:4318")
      expect(env.TASKER_METRICS_CORRELATION, name).toBe("false")
    }
  })

  it("scrapes every role on the port it serves /metrics on, and loads the alert rules", () => {
    const checked = promtool(["check", "config", "ops/prometheus/prometheus.yml"])
    expect(checked.code, checked.output).toBe(0)
    const config = parse(readRepoFile("ops/prometheus/prometheus.yml")) as {
      rule_files: ReadonlyArray<string>
      scrape_configs: ReadonlyArray<{ job_name: string; static_configs: ReadonlyArray<{ targets: ReadonlyArray<string> }> }>
    }
    expect(config.rule_files).toEqual(["alerts.yml"])
    const targets = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]))
    const env = (name: string) => services[name]!.environment!
    expect(targets["tasker-api"]).toEqual([`api:${env("api").TASKER_API_PORT}`])
    expect(targets["tasker-orchestrator"]).toEqual([`orchestrator:${env("orchestrator").TASKER_ORCHESTRATOR_HEALTH_PORT}`])
    expect(targets["tasker-worker"]).toEqual([
      `worker-1:${env("worker-1").TASKER_WORKER_HEALTH_PORT}`,
      `worker-2:${env("worker-2").TASKER_WORKER_HEALTH_PORT}`
    ])
    // inside containers, the servers listen on every interface, not the loopback default
    expect(env("api").TASKER_API_HOST).toBe("0.0.0.0")
    expect(env("orchestrator").TASKER_ORCHESTRATOR_HEALTH_HOST).toBe("0.0.0.0")
    expect(env("worker-1").TASKER_WORKER_HEALTH_HOST).toBe("0.0.0.0")
    // the rules' TaskerNoLiveOrchestrator names this job
    expect(readRepoFile("ops/prometheus/alerts.yml")).toContain('up{job="tasker-orchestrator"}')
    const mounts = (services.prometheus?.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`))
    expect(mounts.some((m) => /ops\/prometheus:\/etc\/prometheus/.test(m)), mounts.join(", ")).toBe(true)
    expect(services.prometheus?.command).toContain("--config.file=/etc/prometheus/prometheus.yml")
  })

  it("provisions Grafana with the Prometheus data source and the dashboard", () => {
    const datasources = parse(readRepoFile("ops/grafana/provisioning/datasources/prometheus.yml")) as {
      datasources: ReadonlyArray<{ type: string; url: string; isDefault: boolean }>
    }
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ type: "prometheus", url: "http://prometheus:9090", isDefault: true })
    ])
    const providers = parse(readRepoFile("ops/grafana/provisioning/dashboards/tasker.yml")) as {
      providers: ReadonlyArray<{ options: { path: string } }>
    }
    const mounts = (services.grafana?.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`))
    const dashboardsPath = providers.providers[0]!.options.path
    expect(mounts.some((m) => m.endsWith(`ops/grafana/dashboards:${dashboardsPath}:ro`)), mounts.join(", ")).toBe(true)
    expect(mounts.some((m) => m.endsWith("ops/grafana/provisioning:/etc/grafana/provisioning:ro")), mounts.join(", "))
      .toBe(true)
  })

  it("sends the engine's traces through the collector to Jaeger", () => {
    const config = parse(readRepoFile("ops/otel-collector/config.yaml")) as {
      receivers: { otlp: { protocols: { http: { endpoint: string }; grpc: { endpoint: string } } } }
      exporters: Record<string, { endpoint?: string }>
      service: { pipelines: Record<string, { receivers: ReadonlyArray<string>; exporters: ReadonlyArray<string> }> }
    }
    expect(config.receivers.otlp.protocols.http.endpoint).toBe("0.0.0.0:4318")
    expect(config.service.pipelines.traces?.receivers).toEqual(["otlp"])
    const exporter = config.service.pipelines.traces!.exporters[0]!
    expect(config.exporters[exporter]?.endpoint).toBe("jaeger:4317")
    for (const signal of ["metrics", "logs"]) expect(config.service.pipelines[signal]?.receivers).toEqual(["otlp"])
    expect(services.jaeger?.environment?.COLLECTOR_OTLP_ENABLED).toBe("true")
    const mounts = (services["otel-collector"]?.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`))
    const target = mounts.find((m) => m.includes("ops/otel-collector/config.yaml"))?.split(":")[1]
    expect(services["otel-collector"]?.command).toEqual([`--config=${target}`])
  })
})

describe("ops/grafana/dashboards/tasker.json", () => {
  interface Panel {
    readonly id: number
    readonly type: string
    readonly title: string
    readonly datasource?: { readonly uid: string }
    readonly gridPos: { readonly x: number; readonly w: number }
    readonly targets?: ReadonlyArray<{ readonly expr: string; readonly datasource?: { readonly uid: string } }>
    readonly panels?: ReadonlyArray<Panel>
  }
  const dashboard = JSON.parse(readRepoFile("ops/grafana/dashboards/tasker.json")) as {
    uid: string
    panels: ReadonlyArray<Panel>
    templating: { list: ReadonlyArray<{ name: string; type: string; datasource?: { uid: string } }> }
  }
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
  const variables = dashboard.templating.list

  it("takes its data source from the DS_PROMETHEUS variable everywhere", () => {
    expect(variables.find((v) => v.name === "DS_PROMETHEUS")?.type).toBe("datasource")
    for (const panel of panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe("${DS_PROMETHEUS}")
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe("${DS_PROMETHEUS}")
    }
    for (const v of variables.filter((v) => v.type === "query")) expect(v.datasource?.uid, v.name).toBe("${DS_PROMETHEUS}")
  })

  it("uses only variables it defines (or Grafana's own), has unique panel ids, and fits the 24-column grid", () => {
    const defined = new Set([...variables.map((v) => v.name), "__rate_interval", "__interval", "__range"])
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        for (const m of target.expr.matchAll(/\$\{?(\w+)/g)) expect(defined.has(m[1]!), `${panel.title}: $${m[1]}`).toBe(true)
      }
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24)
    }
    const ids = panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("has the rows of docs/observability/operations.md", () => {
    const rows = panels.filter((p) => p.type === "row").map((p) => p.title)
    expect(rows).toEqual(["Throughput", "Latency", "Failures", "Queues and backlog", "Processes", "Database"])
    const doc = readRepoFile("docs/observability/operations.md")
    for (const row of rows) expect(doc, row).toContain(`**${row}**`)
  })
})
