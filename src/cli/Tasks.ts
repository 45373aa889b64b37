/**
 * What `tasker task create|get|list|cancel` run (loaded by `TaskCommand.ts`): one call of the typed client
 * (`TaskerClient` over `fetch`) each, its answer printed as JSON on stdout.
 */
import { Effect, Option } from "effect"
import { TaskerClient } from "../client/Client.ts"
import { CommandFailed, registerSecret } from "./Failure.ts"
import { printJson } from "./Output.ts"
import type { ClientFlags, CreateFlags, ListFlags, TaskUuidFlags } from "./TaskCommand.ts"

/** A command handler with a client for the server its flags name. */
const withClient = <I extends ClientFlags, A, E>(handler: (flags: I) => Effect.Effect<A, E, TaskerClient>) =>
(flags: I): Effect.Effect<A, E> => {
  const secret = Option.getOrUndefined(flags.token)
  registerSecret(secret)
  return handler(flags).pipe(Effect.provide(TaskerClient.layerFetch({ baseUrl: flags.url, token: secret })))
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
  const created = yield* client.createTask(request)
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
  yield* printJson(yield* client.listTasks(query))
}))

/** `tasker task cancel`. */
export const cancel = withClient(Effect.fn("tasker.task.cancel")(function*(flags: TaskUuidFlags) {
  const client = yield* TaskerClient
  yield* printJson(yield* client.cancelTask(flags.taskUuid))
}))
