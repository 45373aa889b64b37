/**
 * The typed HTTP client of the installed package against a running `tasker serve` (`TASKER_URL`): creates a task
 * of the linear example, waits for it and prints one JSON line. Loads no engine code (PackInstall.test.ts checks
 * that `tasker-effect/client` works without a database driver being touched).
 */
import { Effect } from "effect"
import { TaskerClient } from "tasker-effect/client"

const program = Effect.gen(function*() {
  const client = yield* TaskerClient
  const created = yield* client.createTask({
    namespace: "rust_e2e_linear",
    name: "mathematical_sequence",
    version: "1.0.0",
    context: { even_number: 6 }
  })
  const task = yield* client.waitForCompletion(created.task_uuid, { timeout: "60 seconds" })
  console.log(JSON.stringify({ status: task.status, task_uuid: task.task_uuid }))
})

Effect.runPromise(
  program.pipe(Effect.provide(TaskerClient.layerFetch({ baseUrl: process.env["TASKER_URL"] ?? "http://127.0.0.1:8080" })))
).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
