/**
 * The flags the `tasker` commands share, and how a flag becomes configuration: every setting is an environment
 * variable read through Effect `Config`; a flag given on the command line overrides its variable for this run
 * (`Overrides`, installed by `withSettings` in `Settings.ts`). docs/configuration.md lists every variable.
 *
 * This module is loaded for every invocation (`--help` included), so it imports nothing heavy.
 */
import { Option, Redacted } from "effect"
import { Flag } from "effect/cli"
import { registerSecret } from "./Failure.ts"

/**
 * The namespaces of the example templates (`src/examples`), which `tasker worker --namespace` accepts. Kept here,
 * not derived, so `--help` need not load the examples; test/cli checks it against `exampleTemplates`.
 */
export const EXAMPLE_NAMESPACES = [
  "rust_e2e_linear",
  "rust_e2e_diamond",
  "rust_e2e_tree",
  "rust_e2e_mixed_dag",
  "rust_e2e_order_fulfillment",
  "test_errors"
] as const

// ---------------------------------------------------------------------------------------------------------------
// Flags shared by the commands that run an engine
// ---------------------------------------------------------------------------------------------------------------

/** `--database-url` → `DATABASE_URL` (prefer the variable: a flag is visible in the process list). */
export const databaseUrlFlag = Flag.Redacted("database-url").pipe(
  Flag.withDescription(
    "PostgreSQL URL (env DATABASE_URL). Without one, the embedded PGlite database is used. Prefer the variable: " +
      "flags show in the process list"
  ),
  Flag.optional
)

/** `--data-dir` → `TASKER_EMBEDDED_DATA_DIR`. */
export const dataDirFlag = Flag.String("data-dir").pipe(
  Flag.withDescription(
    "Directory of the embedded database, kept between runs and locked by one process at a time (env " +
      "TASKER_EMBEDDED_DATA_DIR; default: in memory). Ignored when DATABASE_URL is set"
  ),
  Flag.optional
)

/** `--telemetry` / `--no-telemetry` → `TASKER_TELEMETRY`. */
export const telemetryFlag = Flag.Boolean("telemetry").pipe(
  Flag.withDescription(
    "Export traces, metrics and logs over OTLP (env TASKER_TELEMETRY; default: on when OTEL_EXPORTER_OTLP_ENDPOINT is set)"
  ),
  Flag.optional
)

/** `--log-format json|pretty` → `LOG_FORMAT`. */
export const logFormatFlag = Flag.Literals("log-format", ["json", "pretty"]).pipe(
  Flag.withDescription("Log format on stderr (env LOG_FORMAT; default: pretty on a terminal, json otherwise)"),
  Flag.optional
)

/**
 * `--templates <source>` (repeatable) → the templates a process hosts instead of the examples (env
 * `TASKER_TEMPLATES`, comma-separated): a templates module, a YAML template file, a directory of YAML files, or
 * `examples`. Given as a flag, the values are used as they are (a path may contain a comma); `Templates.ts` loads
 * them.
 */
export const templatesFlag = Flag.String("templates").pipe(
  Flag.withDescription(
    "Host these workflow templates instead of the examples: a module (.js/.mjs/.ts exporting WorkflowDefinitions, " +
      "and optionally a `layer` for their handlers' services), a YAML template file (.yaml/.yml), or a directory " +
      "of YAML files (their handlers come from --handlers); repeat for several, `examples` adds the examples (env " +
      "TASKER_TEMPLATES, comma-separated)"
  ),
  Flag.atLeast(0)
)

/** `--handlers <module>` (repeatable) → the handlers of the YAML templates (env `TASKER_HANDLERS`, comma-separated). */
export const handlersFlag = Flag.String("handlers").pipe(
  Flag.withDescription(
    "A module exporting the step handlers of the YAML templates under their callable names (handler(...), " +
      "fromPromise(...)), and optionally a `layer` for their services; repeat for several (env TASKER_HANDLERS, " +
      "comma-separated)"
  ),
  Flag.atLeast(0)
)

/** The flags of the commands that open a database without running an engine (`migrate`). */
export const databaseFlags = {
  databaseUrl: databaseUrlFlag,
  dataDir: dataDirFlag,
  logFormat: logFormatFlag
} as const

/** The flags every engine-running command takes. */
export const engineFlags = {
  databaseUrl: databaseUrlFlag,
  dataDir: dataDirFlag,
  telemetry: telemetryFlag,
  logFormat: logFormatFlag
} as const

export interface EngineFlags {
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly dataDir: Option.Option<string>
  readonly telemetry: Option.Option<boolean>
  readonly logFormat: Option.Option<"json" | "pretty">
}

// ---------------------------------------------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------------------------------------------

/** Variable name → value, for the flags that were given. */
export type Overrides = Record<string, string>

/** Adds `name = render(value)` when the flag was given. */
export const override = <A>(
  overrides: Overrides,
  name: string,
  value: Option.Option<A>,
  render: (a: A) => string = String
): Overrides => (Option.isSome(value) ? { ...overrides, [name]: render(value.value) } : overrides)

/** The overrides of the shared engine flags. */
export const engineOverrides = (flags: Partial<EngineFlags>): Overrides => {
  const none = Option.none()
  if (flags.databaseUrl !== undefined && Option.isSome(flags.databaseUrl)) registerSecret(flags.databaseUrl.value)
  let o: Overrides = {}
  o = override(o, "DATABASE_URL", flags.databaseUrl ?? none, Redacted.value)
  o = override(o, "TASKER_EMBEDDED_DATA_DIR", flags.dataDir ?? none)
  o = override(o, "TASKER_TELEMETRY", flags.telemetry ?? none)
  o = override(o, "LOG_FORMAT", flags.logFormat ?? none)
  return o
}
