/**
 * `tasker-effect/client`: the typed HTTP client of the API; it loads no engine or database code.
 *
 * ```ts
 * import { TaskerClient } from "tasker-effect/client"
 * const program = Effect.gen(function*() {
 *   const client = yield* TaskerClient
 *   const created = yield* client.createTask({ namespace: "shop", name: "place_order", version: "1.0.0", context: {} })
 * }).pipe(Effect.provide(TaskerClient.layerFetch({ baseUrl: "http://127.0.0.1:8080" })))
 * ```
 */
export * from "../src/client/Client.ts"
