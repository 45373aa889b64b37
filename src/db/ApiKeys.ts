/**
 * API keys (`tasker_api_keys`, migration 0010): created and revoked by `tasker keys`, checked by the API on every
 * request. A key is shown once, at creation, as `tk_<key_id>_<secret>`; the database keeps the key id, the SHA-256
 * digest of the secret, the scopes and the optional namespaces. The key id is what logs, spans and the audit trail
 * name; the secret is never stored, logged or returned again.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { Scope } from "../domain/Scopes.ts"

/** A key as stored, without its secret. */
export interface ApiKeyRecord {
  readonly keyId: string
  readonly name: string
  readonly scopes: ReadonlyArray<Scope>
  /** the only namespaces the key may act on; undefined: every namespace */
  readonly namespaces: ReadonlyArray<string> | undefined
  readonly createdAt: Date
  readonly revokedAt: Date | undefined
  readonly lastUsedAt: Date | undefined
}

export interface NewApiKey {
  readonly name: string
  readonly scopes: ReadonlyArray<Scope>
  readonly namespaces?: ReadonlyArray<string> | undefined
}

/** The prefix of every key: `tk_<key_id>_<secret>`. */
export const API_KEY_PREFIX = "tk_"

const KEY_ID_PATTERN = /^[0-9a-f]{16}$/

/** The key id of a presented key (`tk_<key_id>_<secret>`), or undefined when it does not have that shape. */
export const parseApiKey = (token: string): { readonly keyId: string; readonly secret: string } | undefined => {
  if (!token.startsWith(API_KEY_PREFIX)) return undefined
  const rest = token.slice(API_KEY_PREFIX.length)
  const separator = rest.indexOf("_")
  if (separator < 0) return undefined
  const keyId = rest.slice(0, separator)
  const secret = rest.slice(separator + 1)
  return KEY_ID_PATTERN.test(keyId) && secret.length >= 32 ? { keyId, secret } : undefined
}

const digest = (secret: string) => createHash("sha256").update(secret).digest()

interface KeyRow {
  readonly key_id: string
  readonly name: string
  readonly secret_sha256: Uint8Array
  readonly scopes: ReadonlyArray<string>
  readonly namespaces: ReadonlyArray<string> | null
  readonly created_at: Date | string
  readonly revoked_at: Date | string | null
  readonly last_used_at: Date | string | null
}

const date = (value: Date | string) => (value instanceof Date ? value : new Date(value))

const record = (row: KeyRow): ApiKeyRecord => ({
  keyId: row.key_id,
  name: row.name,
  scopes: row.scopes as ReadonlyArray<Scope>,
  namespaces: row.namespaces ?? undefined,
  createdAt: date(row.created_at),
  revokedAt: row.revoked_at === null ? undefined : date(row.revoked_at),
  lastUsedAt: row.last_used_at === null ? undefined : date(row.last_used_at)
})

export class ApiKeys extends Context.Service<ApiKeys, {
  /** Stores a new key; returns it with the full key text, which is not kept anywhere. */
  readonly create: (
    key: NewApiKey
  ) => Effect.Effect<{ readonly record: ApiKeyRecord; readonly key: Redacted.Redacted<string> }, SqlError.SqlError>
  /** Every key, newest first, revoked ones included (no secrets). */
  readonly list: Effect.Effect<ReadonlyArray<ApiKeyRecord>, SqlError.SqlError>
  /** Revokes a key: the revoked key, or undefined when no unrevoked key has that id. */
  readonly revoke: (keyId: string) => Effect.Effect<ApiKeyRecord | undefined, SqlError.SqlError>
  /**
   * The unrevoked key a presented `tk_…` key text belongs to (its secret compared in constant time), or none.
   * Records the use (`last_used_at`, at most once a minute per key).
   */
  readonly verify: (token: string) => Effect.Effect<Option.Option<ApiKeyRecord>, SqlError.SqlError>
  /** Whether any unrevoked key exists (authentication is on when one does). */
  readonly anyActive: Effect.Effect<boolean, SqlError.SqlError>
}>()("tasker/db/ApiKeys") {
  static readonly layer = Layer.effect(
    ApiKeys,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const columns = sql`key_id, name, secret_sha256, scopes, namespaces, created_at, revoked_at, last_used_at`
      return ApiKeys.of({
        create: Effect.fn("ApiKeys.create")(function*(key: NewApiKey) {
          const keyId = randomBytes(8).toString("hex")
          const secret = randomBytes(32).toString("base64url")
          const namespaces = key.namespaces === undefined || key.namespaces.length === 0 ? null : [...key.namespaces]
          const rows = yield* sql<KeyRow>`
            INSERT INTO tasker_api_keys (key_id, name, secret_sha256, scopes, namespaces)
            VALUES (${keyId}, ${key.name}, ${digest(secret)}, ${[...new Set(key.scopes)]}::text[],
                    ${namespaces}::text[])
            RETURNING ${columns}`
          yield* Effect.annotateCurrentSpan("tasker.api_key_id", keyId)
          return { record: record(rows[0]!), key: Redacted.make(`${API_KEY_PREFIX}${keyId}_${secret}`) }
        }),
        list: sql<KeyRow>`SELECT ${columns} FROM tasker_api_keys ORDER BY created_at DESC, key_id`.pipe(
          Effect.map((rows) => rows.map(record)),
          Effect.withSpan("ApiKeys.list")
        ),
        revoke: Effect.fn("ApiKeys.revoke")(function*(keyId: string) {
          const rows = yield* sql<KeyRow>`
            UPDATE tasker_api_keys SET revoked_at = now() WHERE key_id = ${keyId} AND revoked_at IS NULL
            RETURNING ${columns}`
          return rows.length === 0 ? undefined : record(rows[0]!)
        }),
        verify: Effect.fn("ApiKeys.verify")(function*(token: string) {
          const parsed = parseApiKey(token)
          if (parsed === undefined) return Option.none()
          const rows = yield* sql<KeyRow>`
            SELECT ${columns} FROM tasker_api_keys WHERE key_id = ${parsed.keyId} AND revoked_at IS NULL`
          const row = rows[0]
          if (row === undefined) return Option.none()
          if (!timingSafeEqual(Buffer.from(row.secret_sha256), digest(parsed.secret))) return Option.none()
          yield* sql`UPDATE tasker_api_keys SET last_used_at = now()
                     WHERE key_id = ${parsed.keyId} AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`
          return Option.some(record(row))
        }),
        anyActive: sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM tasker_api_keys WHERE revoked_at IS NULL) AS any`
          .pipe(Effect.map((rows) => rows[0]?.any === true))
      })
    })
  )
}
