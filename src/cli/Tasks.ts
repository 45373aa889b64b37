/**
 * What `tasker task create|get|list|cancel` run (loaded by `TaskCommand.ts`): one call of the typed client
 * (`TaskerClient` over `fetch`) each, its answer printed as JSON on stdout.
 */
import { Effect, Option, Schema, SchemaIssue } from "effect"
import { CreateTaskRequest, ListTasksQuery } from "../api/Models.ts"
import { TaskerClient } from "../client/Client.ts"
import { CommandFailed, registerSecret, UsageError } from "./Failure.ts"
import { printJson } from "./Output.ts"
import type { ClientFlags, CreateFlags, ListFlags, TaskUuidFlags } from "./TaskCommand.ts"

/** The flag behind each field of a request or query. */
const flagOfField: Readonly<Record<string, string>> = {
  namespace: "--namespace",
  name: "--name",
  version: "--version",
  context: "--context",
  correlation_id: "--correlation-id",
  priority: "--priority",
  tags: "--tag",
  idempotency_key: "--idempotency-key",
  page: "--page",
  per_page: "--per-page",
  status: "--status"
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Checks a request with the API's own schema before it is sent: the typed client would refuse to encode it anyway,
 * and its schema error names no flag. A value the API would reject (a `--namespace` longer than 64 characters, a
 * `--priority` beyond 32 bits, a `--tag` longer than 256, …) is bad input: a `UsageError` naming the flag (exit 2).
 */
const checked = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  value: S["Type"],
  command: string
): Effect.Effect<S["Type"], UsageError> =>
  Schema.decodeUnknownEffect(schema)(value).pipe(
    Effect.mapError((error) => {
      const issue = formatIssues(error.issue).issues[0]
      const key = String(issue?.path?.[0] ?? "")
      const flag = flagOfField[key] ?? key
      return new UsageError({
        field: flag,
        message: `Invalid value for flag ${flag}: ${issue?.message ?? error.message} (see: tasker task ${command} --help)`
      })
    })
  ) as Effect.Effect<S["Type"], UsageError>

/** A command handler with a client for the server its flags name. */
const withClient = <I extends ClientFlags, A, E>(handler: (flags: I) => Effect.Effect<A, E, TaskerClient>) =>
(flags: I): Effect.Effect<A, E> => {
  const secret = Option.getOrUndefined(flags.token)
  registerSecret(secret)
  return handler(flags).pipe(Effect.provide(TaskerClient.layerNode({ baseUrl: flags.url, token: secret })))
}

/** `tasker task create`. */
export const create = withClient(Effect.fn("tasker.task.create")(function*(flags: CreateFlags) {
  const client = yield* TaskerClient
  const request = {
    namespace: flags.namespace,
    name: flags.name,
    version: flags.version,
    ...(Option.isSome(flags.context) ? { context: flags.context.value } : {}),
    ...(Option.isSome(flags.correlationId) ? { correlation_id: flags.correlationId.value } : {}),
    ...(Option.isSome(flags.priority) ? { priority: flags.priority.value } : {}),
    ...(flags.tag.length > 0 ? { tags: flags.tag } : {}),
    ...(Option.isSome(flags.idempotencyKey) ? { idempotency_key: flags.idempotencyKey.value } : {})
  }
  const created = yield* client.createTask(yield* checked(CreateTaskRequest, request, "create"))
  if (!flags.wait) return yield* printJson(created)
  const finished = yield* client.waitForCompletion(created.task_uuid, { timeout: `${flags.timeout} seconds` })
  yield* printJson(yield* client.getTask(finished.task_uuid))
  if (finished.status !== "complete") {
    return yield* new CommandFailed({ message: `task ${finished.task_uuid} ended ${finished.status}` })
  }
}))

/** `tasker task get`. */
export const get = withClient(Effect.fn("tasker.task.get")(function*(flags: TaskUuidFlags) {
  const client = yield* TaskerClient
  yield* printJson(yield* client.getTask(flags.taskUuid))
}))

/** `tasker task list`. */
export const list = withClient(Effect.fn("tasker.task.list")(function*(flags: ListFlags) {
  const client = yield* TaskerClient
  const query = {
    ...(Option.isSome(flags.page) ? { page: flags.page.value } : {}),
    ...(Option.isSome(flags.perPage) ? { per_page: flags.perPage.value } : {}),
    ...(Option.isSome(flags.namespace) ? { namespace: flags.namespace.value } : {}),
    ...(Option.isSome(flags.name) ? { name: flags.name.value } : {}),
    ...(Option.isSome(flags.status) ? { status: flags.status.value } : {})
  }
  yield* printJson(yield* client.listTasks(yield* checked(ListTasksQuery, query, "list")))
}))

/** `tasker task cancel`. */
export const cancel = withClient(Effect.fn("tasker.task.cancel")(function*(flags: TaskUuidFlags) {
  const client = yield* TaskerClient
  yield* printJson(yield* client.cancelTask(flags.taskUuid))
}))
