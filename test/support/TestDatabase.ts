/**
 * A fresh PostgreSQL database per test layer: created with a random name on the server given by
 * `TEST_DATABASE_URL` (default: the local server, database `test`), migrated, and dropped when the layer is
 * released, so test runs never collide or depend on earlier state.
 */
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { postgresLayer, type PostgresOptions } from "../../layers/postgres.ts"

export const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test"

const withAdmin = (statement: string) =>
  Effect.gen(function*() {
    const admin = yield* PgClient.makeClient({ url: Redacted.make(adminUrl) })
    yield* admin.unsafe(statement).unprepared
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))

/** Creates an empty database and drops it (forcing connections closed) when the scope closes. */
export const freshDatabase = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `tasker_test_${randomBytes(6).toString("hex")}`
    yield* withAdmin(`CREATE DATABASE ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return { name, url: url.toString() }
  }),
  ({ name }) => withAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
)

/** The data layer over a fresh, migrated database. */
export const testDatabaseLayer = (options: Omit<PostgresOptions, "url"> = {}) =>
  Layer.unwrap(Effect.map(freshDatabase, ({ url }) => postgresLayer({ ...options, url })))

export const TestDatabaseLayer = testDatabaseLayer()
