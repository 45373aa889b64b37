/**
 * `tasker demo`: runs example workflows in an engine inside this process (embedded database unless `DATABASE_URL`
 * is set), one after the other, and prints each task's steps, final result and timing; `--json` prints one JSON
 * object per task and line, nothing else. Definitions only: the handler loads `Demo.ts` when it runs.
 */
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { type EngineFlags, engineFlags } from "./Flags.ts"

/** The examples `--workflow` names, in the order `--workflow all` runs them. */
export const DEMO_NAMES = ["linear", "diamond", "tree", "mixed_dag", "order_fulfillment"] as const
export type DemoName = (typeof DEMO_NAMES)[number]

export interface DemoFlags extends EngineFlags {
  readonly workflow: DemoName | "all"
  readonly n: number
  readonly json: boolean
  readonly timeout: number
}

export const DemoCommand = Command.make(
  "demo",
  {
    workflow: Flag.Literals("workflow", [...DEMO_NAMES, "all"]).pipe(
      Flag.withDescription("Which example to run, or all of them in turn (default linear)"),
      Flag.withDefault("linear")
    ),
    n: Flag.Int("n").pipe(
      Flag.withDescription("The even number the math workflows start from: context.even_number (default 6)"),
      Flag.filter((n) => n % 2 === 0, (n) => `Expected an even integer, got ${n}`),
      Flag.withDefault(6)
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print one JSON object per task and line on stdout, nothing else (logs go to stderr)"),
      Flag.withDefault(false)
    ),
    timeout: Flag.Int("timeout").pipe(
      Flag.withDescription("Seconds to wait for each task (default 60)"),
      Flag.filter((n) => n > 0, (n) => `Expected a positive number of seconds, got ${n}`),
      Flag.withDefault(60)
    ),
    ...engineFlags
  },
  (flags) => Effect.flatMap(Effect.promise(() => import("./Demo.ts")), (m) => m.demo(flags))
).pipe(
  Command.withDescription(
    "Run example workflows in an engine inside this process (embedded database unless DATABASE_URL is set) and " +
      "print each task's steps, final result and timing"
  ),
  Command.withExamples([
    { command: "tasker demo", description: "The linear workflow from 6: 36, 1296, 1679616, 2821109907456" },
    { command: "tasker demo --workflow all --json", description: "Every example, one JSON line per task" },
    { command: "tasker demo --workflow diamond --n 4", description: "The diamond from 4" }
  ])
)
