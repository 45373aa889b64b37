/**
 * What the `tasker` command prints. Stdout carries only a command's output (help, results, JSON); errors go to
 * stderr as one line each: `tasker: <message>`.
 *
 * The parser's errors (a missing or invalid flag, an unknown command) are presented here as one line that names the
 * flag and points at the command's `--help`, instead of the full help text followed by the error.
 */
import { Console, Effect } from "effect"
import { CliOutput } from "effect/cli"
import { redactSecrets } from "./Failure.ts"

/** Writes one line to stderr, prefixed with `tasker: `, secrets removed. */
export const printError = (line: string) => Console.error(`tasker: ${redactSecrets(line)}`)

/** Writes a value to stdout as JSON (`pretty`: indented). */
export const printJson = (value: unknown, pretty = true) =>
  Console.log(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), pretty ? 2 : undefined))

/** The runner's presenter: help and version on stdout, invalid invocations as one line per error on stderr. */
export const PresenterLayer = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.forEach(event.errors, (error) => {
        const message = error.message.split("\n")[0]!.trim()
        return printError(`${message} (see: ${event.commandPath.join(" ")} --help)`)
      }, { discard: true })
      : CliOutput.defaultPresenter.present(event)
})
