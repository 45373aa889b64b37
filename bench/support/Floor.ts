/**
 * The floor: linear-4's four hops done with hand-written minimal SQL, to set the engine's figures against the
 * database work a chain of steps cannot avoid on the same server, driver and pool.
 *
 * One table (`bench_floor_messages`: id, chain, hop, value) in a database of its own, created here (no migrations).
 * A chain is submitted by one statement: insert its first message and `NOTIFY`. Each hop is one transaction:
 *
 * ```sql
 * BEGIN;
 * DELETE FROM bench_floor_messages WHERE id = (SELECT id … ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …;
 * -- the handler: value + 1, in this process
 * WITH n AS (INSERT INTO bench_floor_messages …) SELECT pg_notify('bench_floor', 'q');   -- last hop: 'done:<chain>'
 * COMMIT;
 * ```
 *
 * The next hop is claimed when the notification of its message arrives on the LISTEN connection: every `q`
 * notification wakes one runner, which claims one message (each message has its own notification, so none is left
 * behind). The last hop's `done:<chain>` notification completes the chain's waiter. Like the engine: one pool of
 * `maxConnections` (default 10) through `@effect/sql-pg` with prepared statements, one of them held by the LISTEN,
 * and 10 runners, one per connection of its pool (more would only wait for a connection: with 32, as many as the
 * engine's worker slots, the floor was no faster, and slower with synchronous commit). `asyncCommit` sets
 * `synchronous_commit` for the floor's sessions: every floor transaction (submission included) commits
 * asynchronously or synchronously.
 *
 * The floor reads nothing back: no task row, no step context, no audit trail, no visibility timeout (a claimed
 * message stays locked by the hop's transaction instead).
 */
import { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Exit, Queue, Redacted, Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { createBenchDatabase } from "./BenchEngine.ts"

const CHANNEL = "bench_floor"
const HOPS = 4

export interface Floor {
  /** one chain: submission → its `done` notification received (ms) */
  readonly once: () => Promise<number>
  /** `count` chains submitted at once: the wall time (s) and each chain's submission → completion (ms) */
  readonly burst: (count: number) => Promise<{ readonly seconds: number; readonly latenciesMs: Array<number> }>
  /** `VACUUM (ANALYZE)` of the floor's table (the engine's tables are vacuumed at the same points) */
  readonly vacuum: () => Promise<void>
  readonly dispose: () => Promise<void>
}

export const startFloor = async (options: {
  readonly asyncCommit: boolean
  readonly maxConnections?: number
  readonly runners?: number
}): Promise<Floor> => {
  const database = await createBenchDatabase("tasker_bench_floor")
  const scope = Scope.makeUnsafe()
  const setup = Effect.gen(function*() {
    const sql = yield* PgClient.make({
      url: Redacted.make(database.url),
      maxConnections: options.maxConnections ?? 10,
      applicationName: "tasker-bench-floor",
      startupParameters: { synchronous_commit: options.asyncCommit ? "off" : "on" }
    })
    yield* sql`CREATE TABLE bench_floor_messages (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      chain integer NOT NULL,
      hop integer NOT NULL,
      value integer NOT NULL
    )`.unprepared

    const waiting = new Map<string, Deferred.Deferred<void>>()
    // a failed hop fails every waiter (instead of leaving them to time out)
    const fatal = yield* Deferred.make<never, unknown>()
    const wake = yield* Queue.unbounded<void>()
    const notifications = yield* sql.listen(CHANNEL)
    yield* Queue.take(notifications).pipe(
      Effect.flatMap((n) => {
        if (n.payload === "q") return Queue.offer(wake, undefined)
        const done = waiting.get(n.payload.slice("done:".length))
        return done === undefined ? Effect.void : Deferred.succeed(done, undefined)
      }),
      Effect.forever,
      Effect.catchCause((cause) => Deferred.failCause(fatal, cause)),
      Effect.forkScoped
    )

    const hop = sql.withTransaction(Effect.gen(function*() {
      const [message] = yield* sql<{ chain: number; hop: number; value: number }>`
        DELETE FROM bench_floor_messages WHERE id = (
          SELECT id FROM bench_floor_messages ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
        ) RETURNING chain, hop, value`
      if (message === undefined) return
      const value = message.value + 1
      if (message.hop < HOPS) {
        yield* sql`WITH next AS (
            INSERT INTO bench_floor_messages (chain, hop, value) VALUES (${message.chain}, ${message.hop + 1}, ${value})
          ) SELECT pg_notify(${CHANNEL}, 'q')`
      } else {
        yield* sql`SELECT pg_notify(${CHANNEL}, ${`done:${message.chain}`})`
      }
    }))
    for (let i = 0; i < (options.runners ?? 10); i++) {
      yield* Queue.take(wake).pipe(
        Effect.andThen(hop),
        Effect.forever,
        Effect.catchCause((cause) => Deferred.failCause(fatal, cause)),
        Effect.forkScoped
      )
    }

    let chains = 0
    const submitAndWait = Effect.gen(function*() {
      const chain = ++chains
      const done = yield* Deferred.make<void>()
      waiting.set(String(chain), done)
      const started = performance.now()
      yield* sql`WITH first AS (
          INSERT INTO bench_floor_messages (chain, hop, value) VALUES (${chain}, 1, 0)
        ) SELECT pg_notify(${CHANNEL}, 'q')`
      yield* Effect.raceFirst(Deferred.await(done), Deferred.await(fatal)).pipe(Effect.timeout("5 minutes"))
      const elapsed = performance.now() - started
      waiting.delete(String(chain))
      return elapsed
    })
    return { sql, submitAndWait }
  }).pipe(Scope.provide(scope), Effect.provide(Reactivity.layer))

  let floor: Effect.Success<typeof setup>
  try {
    floor = await Effect.runPromise(setup)
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await database.drop()
    throw error
  }
  const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runPromise(effect)
  return {
    once: () => run(floor.submitAndWait),
    burst: async (count) => {
      const started = performance.now()
      const latenciesMs = await run(
        Effect.forEach(Array.from({ length: count }), () => floor.submitAndWait, { concurrency: "unbounded" })
      )
      return { seconds: (performance.now() - started) / 1000, latenciesMs }
    },
    vacuum: () => run(Effect.asVoid(floor.sql`VACUUM (ANALYZE) bench_floor_messages`.unprepared)),
    dispose: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await database.drop()
    }
  }
}
