/**
 * What `tasker keys` runs (loaded by `KeysCommand.ts`): the `ApiKeys` service on the chosen database (migrated
 * first, unless `TASKER_AUTO_MIGRATE=false`, as `tasker serve` does), each change recorded in the audit trail.
 */
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { databaseLayer } from "../../layers/database.ts"
import { type ApiKeyRecord, ApiKeys } from "../db/ApiKeys.ts"
import { type Actor, insertAuditEvent } from "../db/AuditTrail.ts"
import type { Scope } from "../domain/Scopes.ts"
import { registerSecret, UsageError } from "./Failure.ts"
import { engineOverrides, type EngineFlags } from "./Flags.ts"
import { printJson } from "./Output.ts"
import { databaseChoice, withSettings } from "./Settings.ts"

type DatabaseFlags = Pick<EngineFlags, "databaseUrl" | "dataDir" | "logFormat">

const CLI_ACTOR: Actor = { keyId: "cli" }

const view = (key: ApiKeyRecord) => ({
  key_id: key.keyId,
  name: key.name,
  scopes: key.scopes,
  namespaces: key.namespaces ?? null,
  created_at: key.createdAt.toISOString(),
  revoked_at: key.revokedAt?.toISOString() ?? null,
  last_used_at: key.lastUsedAt?.toISOString() ?? null
})

/** Runs `program` with `ApiKeys` and `SqlClient` on the database the flags and environment choose. */
const onDatabase = <A, E>(flags: DatabaseFlags, program: Effect.Effect<A, E, ApiKeys | SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    return yield* program.pipe(Effect.provide(ApiKeys.layer.pipe(Layer.provideMerge(databaseLayer(choice)))))
  }).pipe(withSettings(engineOverrides(flags)))

/** `tasker keys create`. */
export const create = (flags: DatabaseFlags & {
  readonly name: string
  readonly scopes: ReadonlyArray<Scope>
  readonly namespaces: ReadonlyArray<string>
}) =>
  onDatabase(
    flags,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const keys = yield* ApiKeys
      const created = yield* sql.withTransaction(Effect.gen(function*() {
        const created = yield* keys.create({ name: flags.name.trim(), scopes: flags.scopes, namespaces: flags.namespaces })
        yield* insertAuditEvent(sql, {
          action: "key.create",
          actor: CLI_ACTOR,
          details: { key_id: created.record.keyId, name: created.record.name, scopes: created.record.scopes }
        })
        return created
      }))
      // the key is the output, but never part of an error line
      registerSecret(created.key)
      yield* printJson({ ...view(created.record), key: Redacted.value(created.key) })
    }).pipe(Effect.withSpan("tasker.keys.create"))
  )

/** `tasker keys list`. */
export const list = (flags: DatabaseFlags) =>
  onDatabase(
    flags,
    Effect.gen(function*() {
      const keys = yield* ApiKeys
      yield* printJson((yield* keys.list).map(view))
    }).pipe(Effect.withSpan("tasker.keys.list"))
  )

/** `tasker keys revoke <key_id>` (a whole `tk_<key_id>_…` key is accepted too). */
export const revoke = (flags: DatabaseFlags & { readonly keyId: string }) =>
  onDatabase(
    flags,
    Effect.gen(function*() {
      const keyId = /^tk_([0-9a-f]{16})_/.exec(flags.keyId)?.[1] ?? flags.keyId
      const sql = yield* SqlClient.SqlClient
      const keys = yield* ApiKeys
      const revoked = yield* sql.withTransaction(Effect.gen(function*() {
        const revoked = yield* keys.revoke(keyId)
        if (revoked !== undefined) {
          yield* insertAuditEvent(sql, { action: "key.revoke", actor: CLI_ACTOR, details: { key_id: keyId } })
        }
        return revoked
      }))
      if (revoked === undefined) {
        return yield* new UsageError({
          field: "key_id",
          message: `no unrevoked API key with id ${JSON.stringify(keyId.slice(0, 40))} (see: tasker keys list)`
        })
      }
      yield* printJson(view(revoked))
    }).pipe(Effect.withSpan("tasker.keys.revoke"))
  )
