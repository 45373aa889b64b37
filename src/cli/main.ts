#!/usr/bin/env node
/**
 * The `tasker` command: `serve`, `orchestrator`, `worker`, `migrate`, `keys create|list|revoke`, `demo` and
 * `task create|get|list|cancel`.
 *
 *   node src/cli/main.ts --help
 *   node src/cli/main.ts serve                 # API + orchestrator + worker, embedded database unless DATABASE_URL
 *   node src/cli/main.ts demo --workflow all   # run the examples in-process and print their results
 *
 * Exit codes: 0 success (also after SIGINT/SIGTERM, once shut down), 2 bad input (flags, arguments, variables, an
 * API 4xx, an unreachable server), 1 any other failure. Errors are one line on stderr (see `Failure.ts`).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Logger } from "effect"
import { Command } from "effect/cli"
import { DemoCommand } from "./DemoCommand.ts"
import { KeysCommand } from "./KeysCommand.ts"
import { outcomeOf } from "./Failure.ts"
import { MigrateCommand } from "./MigrateCommand.ts"
import { PresenterLayer, printError } from "./Output.ts"
import { OrchestratorCommand, ServeCommand, WorkerCommand } from "./ServeCommand.ts"
import { TaskCommand } from "./TaskCommand.ts"

const VERSION = "0.1.0"

const TaskerCommand = Command.make("tasker").pipe(
  Command.withDescription(
    "Workflow orchestration on Effect and PostgreSQL: run the engine (serve, orchestrator, worker), migrate the " +
      "database, manage API keys (keys), run the example workflows (demo) and manage tasks on a running server (task). Settings come from " +
      "flags and environment variables (docs/configuration.md)"
  ),
  Command.withSubcommands([ServeCommand, OrchestratorCommand, WorkerCommand, MigrateCommand, KeysCommand, DemoCommand, TaskCommand])
)

/** Exit code of the last failure, set when the failure is reported (the teardown reads it). */
let exitCode = 0

const program = Command.run(TaskerCommand, { version: VERSION }).pipe(
  Effect.catchCause((cause) => {
    const outcome = outcomeOf(cause)
    exitCode = outcome.code
    return outcome.line === undefined ? Effect.void : printError(outcome.line)
  }),
  // stdout carries only a command's output (help, JSON, banners): every log line goes to stderr
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(PresenterLayer),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // an interrupted main fiber is a requested shutdown (SIGINT/SIGTERM): exit 0 once everything is released
  teardown: (_exit, onExit) => onExit(exitCode)
})
