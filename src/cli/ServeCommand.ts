/**
 * The long-running commands: `tasker serve` (API + orchestration + a worker for the example templates, or those
 * of `--templates`, in one process), `tasker orchestrator` (the orchestration loops only, with a small health
 * server) and `tasker worker` (a worker for the templates of some namespaces, with a small health server).
 *
 * Definitions only: the handlers load `Serve.ts` (the engine, the API, the database layers) when they run, so
 * `--help` and the other commands start fast.
 */
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { engineFlags, EXAMPLE_NAMESPACES, handlersFlag, templatesFlag } from "./Flags.ts"

export const ROLES = ["api", "orchestrator", "worker"] as const
export type Role = (typeof ROLES)[number]

/** Parses `api,orchestrator,worker` (any non-empty subset, in any order); throws with what was expected. */
export const parseRoles = (text: string): ReadonlySet<Role> => {
  const parts = text.split(",").map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0)
  const expected = `a comma-separated list of ${ROLES.join(", ")}`
  if (parts.length === 0) throw new Error(expected)
  for (const part of parts) {
    if (!(ROLES as ReadonlyArray<string>).includes(part)) throw new Error(`${expected} (unknown role "${part}")`)
  }
  return new Set(parts as ReadonlyArray<Role>)
}

export const DEFAULT_WORKER_HEALTH_PORT = 8081
export const DEFAULT_ORCHESTRATOR_HEALTH_PORT = 8082

const portFlag = (name: string, description: string) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.filter((n) => n >= 0 && n <= 65535, (n) => `a port between 0 and 65535, got ${n}`),
    Flag.optional
  )

const loadServe = Effect.promise(() => import("./Serve.ts"))

export const ServeCommand = Command.make(
  "serve",
  {
    host: Flag.String("host").pipe(
      Flag.withDescription("Interface the API listens on (env TASKER_API_HOST; default 127.0.0.1; 0.0.0.0 for all)"),
      Flag.optional
    ),
    port: portFlag("port", "API port (env TASKER_API_PORT; default 8080; 0 picks a free port)"),
    roles: Flag.String("roles").pipe(
      Flag.withDescription(
        "What this process runs: any of api,orchestrator,worker (env TASKER_ROLES; default all three)"
      ),
      Flag.mapTryCatch((text) => [...parseRoles(text)].join(","), (e) => (e instanceof Error ? e.message : String(e))),
      Flag.optional
    ),
    allowUnauthenticated: Flag.Boolean("allow-unauthenticated").pipe(
      Flag.withDescription(
        "Serve a non-loopback --host without TASKER_API_TOKEN or any API key (env TASKER_API_ALLOW_UNAUTHENTICATED; " +
          "default: refused at start-up)"
      ),
      Flag.withDefault(false)
    ),
    examples: Flag.Boolean("examples").pipe(
      Flag.withDescription(
        "Submit a few tasks of the example templates when the database has no task yet (one that fails, to resolve " +
          "from the dashboard), so the dashboard has something to show; npm start sets it (env TASKER_EXAMPLES; " +
          "default off)"
      ),
      Flag.withDefault(false)
    ),
    templates: templatesFlag,
    handlers: handlersFlag,
    ...engineFlags
  },
  (flags) => Effect.flatMap(loadServe, (m) => m.serve(flags))
).pipe(
  Command.withDescription(
    "Run the API, the orchestration loops and a worker hosting the example workflows (or those of --templates) in " +
      "one process. The database " +
      "is PostgreSQL at DATABASE_URL, or the embedded PGlite database when it is not set. Prints the API URL and a " +
      "curl command that creates a task. Stops on SIGINT/SIGTERM"
  ),
  Command.withExamples([
    { command: "tasker serve", description: "Everything in one process on the embedded database, API on 127.0.0.1:8080" },
    {
      command: "DATABASE_URL=postgres://localhost/tasker tasker serve --host 0.0.0.0 --port 9000",
      description: "On PostgreSQL, listening on every interface"
    },
    {
      command: "tasker serve --examples",
      description: "The same, with example tasks submitted into the empty database (what npm start runs)"
    },
    { command: "tasker serve --roles api", description: "The API only (orchestrators and workers run elsewhere)" },
    { command: "tasker serve --templates ./workflows.ts", description: "Host your own workflows instead of the examples" },
    {
      command: "tasker serve --templates ./workflows/ --handlers ./handlers.ts",
      description: "Host the YAML templates of a directory, with their handlers"
    }
  ])
)

const healthHostFlag = (command: "worker" | "orchestrator") =>
  Flag.String("health-host").pipe(
    Flag.withDescription(
      `Interface of the health server (env TASKER_${command.toUpperCase()}_HEALTH_HOST; default 127.0.0.1)`
    ),
    Flag.optional
  )

const healthPortFlag = (command: "worker" | "orchestrator", defaultPort: number) =>
  portFlag(
    "health-port",
    `Port of the health server: /health, /ready, /metrics (env TASKER_${command.toUpperCase()}_HEALTH_PORT; ` +
      `default ${defaultPort}; 0 picks a free port)`
  )

export const OrchestratorCommand = Command.make(
  "orchestrator",
  {
    healthHost: healthHostFlag("orchestrator"),
    healthPort: healthPortFlag("orchestrator", DEFAULT_ORCHESTRATOR_HEALTH_PORT),
    ...engineFlags
  },
  (flags) => Effect.flatMap(loadServe, (m) => m.orchestrator(flags))
).pipe(
  Command.withDescription(
    "Run the orchestration loops only (no API, no worker) against DATABASE_URL, with a health server " +
      "(/health, /ready, /metrics). Stops on SIGINT/SIGTERM"
  ),
  Command.withExamples([
    { command: "DATABASE_URL=postgres://localhost/tasker tasker orchestrator", description: "One orchestrator" },
    {
      command: "DATABASE_URL=postgres://localhost/tasker tasker orchestrator --health-port 9082",
      description: "With its health server on another port (a second orchestrator on the same host)"
    }
  ])
)

export const WorkerCommand = Command.make(
  "worker",
  {
    // checked against the hosted templates once they are loaded (Serve.ts)
    namespace: Flag.String("namespace").pipe(
      Flag.withDescription(
        `Host the templates of this namespace; repeat for several (env TASKER_WORKER_NAMESPACES, ` +
          `comma-separated; default: all). The examples' namespaces: ${EXAMPLE_NAMESPACES.join(", ")}`
      ),
      Flag.atLeast(0)
    ),
    templates: templatesFlag,
    handlers: handlersFlag,
    healthHost: healthHostFlag("worker"),
    healthPort: healthPortFlag("worker", DEFAULT_WORKER_HEALTH_PORT),
    ...engineFlags
  },
  (flags) => Effect.flatMap(loadServe, (m) => m.worker(flags))
).pipe(
  Command.withDescription(
    "Run a worker hosting the example workflows (or those of --templates) of the given namespaces (all by " +
      "default), with a health server " +
      "(/health, /ready, /metrics). On SIGINT/SIGTERM it stops claiming steps and gives running ones back"
  ),
  Command.withExamples([
    {
      command: "DATABASE_URL=postgres://localhost/tasker tasker worker --namespace rust_e2e_linear --health-port 9081",
      description: "A worker for the linear example"
    },
    {
      command: "DATABASE_URL=postgres://localhost/tasker tasker worker --templates ./workflows.ts",
      description: "A worker for your own workflows"
    }
  ])
)
