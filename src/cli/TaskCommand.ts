/**
 * `tasker task create|get|list|cancel`: tasks on a running server (`tasker serve`) through the typed client
 * (`TaskerClient`). Each prints the API's answer as JSON on stdout.
 *
 * `--url` (env `TASKER_URL`; default: where `tasker serve` listens with the same environment, from `TASKER_API_HOST`
 * and `TASKER_API_PORT`, http://127.0.0.1:8080 without them) and `--token-file` (env `TASKER_API_TOKEN`) select
 * the server. Bad input is caught before any request where it can be (invalid JSON in `--context`, a malformed UUID,
 * an unknown `--status`); what only the server can judge (an unknown template, a context the template's schema
 * rejects) comes back as the API's 4xx, printed with the field it names. Both exit 2, as does a server that cannot
 * be reached.
 *
 * Definitions only: the handlers load `Tasks.ts` (the client) when they run.
 */
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { JsonObject, Uuid } from "../api/Models.ts"
import { DEFAULT_API_HOST, DEFAULT_API_PORT, ListenPort } from "../api/ServerOptions.ts"
import { type TaskState, TaskStates } from "../domain/TaskStateMachine.ts"
import { registerSecret } from "./Failure.ts"

export const DEFAULT_URL = `http://${DEFAULT_API_HOST}:${DEFAULT_API_PORT}`

const isUuid = Schema.is(Uuid)

/** A host to connect to for a host the server listens on: a wildcard address is reached on loopback. */
const connectHost = (host: string): string => {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1"
  if (host === "::" || host === "[::]") return "[::1]"
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
}

/**
 * The API address that `tasker serve` would listen on in this environment: `http://TASKER_API_HOST:TASKER_API_PORT`
 * (defaults 127.0.0.1 and 8080), so that `tasker task …` finds the server started with the same variables.
 */
export const servedApiUrl = Config.all({
  host: Config.String("TASKER_API_HOST").pipe(Config.withDefault(DEFAULT_API_HOST)),
  port: Config.schema(ListenPort, "TASKER_API_PORT").pipe(Config.withDefault(DEFAULT_API_PORT))
}).pipe(Config.map(({ host, port }) => `http://${connectHost(host.trim())}:${port}`))

const url = Flag.String("url").pipe(
  Flag.withDescription(
    `The tasker API (env TASKER_URL; default: the address tasker serve listens on with the same environment, ` +
      `http://TASKER_API_HOST:TASKER_API_PORT, i.e. ${DEFAULT_URL} when they are unset)`
  ),
  Flag.withFallbackConfig(Config.String("TASKER_URL").pipe(Config.orElse(() => servedApiUrl))),
  Flag.filter((text) => {
    try {
      const u = new URL(text)
      return u.protocol === "http:" || u.protocol === "https:"
    } catch {
      return false
    }
  }, (text) => `Expected an http:// or https:// URL, got "${text}"`)
)

/**
 * The API token, when the server has one: the contents of `--token-file` (a mounted secret, a file only you can
 * read) or `TASKER_API_TOKEN`. Never a value on the command line, where every user of the machine can read it
 * (`ps`, `/proc/<pid>/cmdline`) and shell history keeps it.
 */
const token = Flag.FileText("token-file").pipe(
  Flag.map((text) => Redacted.make(text.trim())),
  Flag.withDescription(
    "A file holding the API token, when the server has one (trailing whitespace ignored; env TASKER_API_TOKEN " +
      "holds the token itself)"
  ),
  Flag.withFallbackConfig(Config.Redacted("TASKER_API_TOKEN")),
  Flag.optional
)

/** `--token <value>` is refused with directions: the value would be in the process list. */
const tokenInArgv = Flag.String("token").pipe(
  Flag.filter(
    (value) => {
      // the value is a secret: kept out of the refusal (and any other line) like TASKER_API_TOKEN's
      registerSecret(value)
      return false
    },
    () =>
      "--token would put the secret in the process list and shell history: set TASKER_API_TOKEN or pass " +
      "--token-file <file>"
  ),
  Flag.withHidden,
  Flag.optional
)

const clientFlags = { url, token, tokenInArgv } as const

export interface ClientFlags {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted<string>>
}

export interface CreateFlags extends ClientFlags {
  readonly namespace: string
  readonly name: string
  readonly version: string
  readonly context: Option.Option<typeof JsonObject.Type>
  readonly correlationId: Option.Option<string>
  readonly priority: Option.Option<number>
  readonly tag: ReadonlyArray<string>
  readonly idempotencyKey: Option.Option<string>
  readonly wait: boolean
  readonly timeout: number
}

export interface TaskUuidFlags extends ClientFlags {
  readonly taskUuid: string
}

export interface ListFlags extends ClientFlags {
  readonly page: Option.Option<number>
  readonly perPage: Option.Option<number>
  readonly namespace: Option.Option<string>
  readonly name: Option.Option<string>
  readonly status: Option.Option<TaskState>
}

const loadTasks = Effect.promise(() => import("./Tasks.ts"))

const taskUuid = Argument.String("task-uuid").pipe(
  Argument.withDescription("The task's UUID"),
  Argument.filter(isUuid, (text) => `Expected a UUID, got "${text}"`)
)

/** `--context`: a JSON object (decoded with the API's own schema for contexts). */
const contextFlag = Flag.String("context").pipe(
  Flag.withDescription(`The task's input, a JSON object, e.g. '{"even_number": 6}' (default {})`),
  Flag.withSchema(Schema.fromJsonString(JsonObject)),
  Flag.optional
)

// ---------------------------------------------------------------------------------------------------------------
// create
// ---------------------------------------------------------------------------------------------------------------

const create = Command.make(
  "create",
  {
    namespace: Flag.String("namespace").pipe(Flag.withDescription("The template's namespace")),
    name: Flag.String("name").pipe(Flag.withDescription("The template's name")),
    version: Flag.String("version").pipe(Flag.withDescription("The template's version, e.g. 1.0.0")),
    context: contextFlag,
    correlationId: Flag.String("correlation-id").pipe(
      Flag.withDescription("The task's correlation ID (a UUID; default: a new UUIDv7)"),
      Flag.filter(isUuid, (text) => `Expected a UUID, got "${text}"`),
      Flag.optional
    ),
    priority: Flag.Int("priority").pipe(Flag.withDescription("Higher runs first (default 0)"), Flag.optional),
    tag: Flag.String("tag").pipe(Flag.withDescription("A tag; repeat for several"), Flag.atLeast(0)),
    idempotencyKey: Flag.String("idempotency-key").pipe(
      Flag.withDescription("Deduplicate by this key: a second create with it returns the first task"),
      Flag.optional
    ),
    wait: Flag.Boolean("wait").pipe(
      Flag.withDescription("Wait until the task finishes, then print it with its steps; exit 1 unless it completed"),
      Flag.withDefault(false)
    ),
    timeout: Flag.Int("timeout").pipe(
      Flag.withDescription("With --wait: seconds to wait (default 300)"),
      Flag.filter((n) => n > 0, (n) => `Expected a positive number of seconds, got ${n}`),
      Flag.withDefault(300)
    ),
    ...clientFlags
  },
  (flags) => Effect.flatMap(loadTasks, (m) => m.create(flags))
).pipe(
  Command.withDescription("Create a task from a template (POST /v1/tasks) and print the answer"),
  Command.withExamples([
    {
      command:
        `tasker task create --namespace rust_e2e_linear --name mathematical_sequence --version 1.0.0 --context '{"even_number": 6}' --wait`,
      description: "Run the linear example and print the finished task"
    }
  ])
)

// ---------------------------------------------------------------------------------------------------------------
// get, list, cancel
// ---------------------------------------------------------------------------------------------------------------

const get = Command.make(
  "get",
  { taskUuid, ...clientFlags },
  (flags) => Effect.flatMap(loadTasks, (m) => m.get(flags))
).pipe(Command.withDescription("Print a task with its execution context and steps (GET /v1/tasks/:task_uuid)"))

const list = Command.make(
  "list",
  {
    page: Flag.Int("page").pipe(
      Flag.withDescription("Page number, from 1 (default 1)"),
      Flag.filter((n) => n >= 1, (n) => `Expected a page number ≥ 1, got ${n}`),
      Flag.optional
    ),
    perPage: Flag.Int("per-page").pipe(
      Flag.withDescription("Tasks per page, 1-100 (default 25)"),
      Flag.filter((n) => n >= 1 && n <= 100, (n) => `Expected 1 to 100, got ${n}`),
      Flag.optional
    ),
    namespace: Flag.String("namespace").pipe(Flag.withDescription("Only this namespace"), Flag.optional),
    name: Flag.String("name").pipe(Flag.withDescription("Only templates of this name"), Flag.optional),
    status: Flag.Literals("status", TaskStates).pipe(Flag.withDescription("Only tasks in this state"), Flag.optional),
    ...clientFlags
  },
  (flags) => Effect.flatMap(loadTasks, (m) => m.list(flags))
).pipe(Command.withDescription("List tasks, newest first (GET /v1/tasks)"))

const cancel = Command.make(
  "cancel",
  { taskUuid, ...clientFlags },
  (flags) => Effect.flatMap(loadTasks, (m) => m.cancel(flags))
).pipe(Command.withDescription("Cancel a task and its unfinished steps (DELETE /v1/tasks/:task_uuid)"))

export const TaskCommand = Command.make("task").pipe(
  Command.withDescription("Create, read, list and cancel tasks on a running server (tasker serve)"),
  Command.withSubcommands([create, get, list, cancel])
)
