/**
 * The user a PostgreSQL URL connects as, found the way libpq (`psql`) finds it: the user the URL names
 * (`postgres://ada@host/db`, or `?user=ada`), else the `PGUSER` variable, else the operating-system user running
 * the process (`os.userInfo()`, not `$USER`). So `postgres://localhost:5432/tasker` works as it does for `psql`,
 * also where `$USER` is unset (containers, systemd services). When none of them gives a user (a container running
 * as a UID without a name), the layer fails with `DatabaseUserMissing`, one line saying what to set.
 */
import { userInfo } from "node:os"
import { Config, Effect, Option, Redacted, Result, Schema } from "effect"

/** No user in the URL, no `PGUSER`, and the operating-system user has no name. */
export class DatabaseUserMissing extends Schema.TaggedError<DatabaseUserMissing>()("DatabaseUserMissing", {
  /** why the operating-system user is unknown */
  reason: Schema.String
}) {
  override get message(): string {
    return `the PostgreSQL URL names no user, PGUSER is not set and the operating-system user is unknown ` +
      `(${this.reason}): put the user in the URL (postgres://USER@host:5432/database) or set PGUSER`
  }
}

/** Where a user may come from besides the URL. */
export interface UserSources {
  /** the `PGUSER` variable */
  readonly pgUser: string | undefined
  /** the operating-system user's name; may throw (no passwd entry for the UID) */
  readonly osUser: () => string
}

/** The process's own sources: `process.env.PGUSER` and `os.userInfo()`. */
export const processUserSources: UserSources = {
  pgUser: process.env.PGUSER,
  osUser: () => userInfo().username
}

const userInUrl = (url: URL): string | undefined => {
  const fromQuery = url.searchParams.get("user")
  if (fromQuery !== null && fromQuery !== "") return fromQuery
  if (url.username === "") return undefined
  try {
    return decodeURIComponent(url.username)
  } catch {
    return url.username
  }
}

/**
 * The user `url` connects as: the URL's own, else `PGUSER`, else the operating-system user (empty values count as
 * unset, as in libpq). `undefined` when `url` is not a URL at all (the driver reports that).
 */
export const resolveConnectionUser = (
  url: string,
  sources: UserSources
): Result.Result<string | undefined, DatabaseUserMissing> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Result.succeed(undefined)
  }
  const named = userInUrl(parsed)
  if (named !== undefined) return Result.succeed(named)
  if (sources.pgUser !== undefined && sources.pgUser !== "") return Result.succeed(sources.pgUser)
  try {
    const os = sources.osUser()
    return os === ""
      ? Result.fail(new DatabaseUserMissing({ reason: "the operating-system user has an empty name" }))
      : Result.succeed(os)
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e)
    return Result.fail(new DatabaseUserMissing({ reason: `os.userInfo(): ${detail}` }))
  }
}

/** `resolveConnectionUser` with `PGUSER` read through `Config` and the process's operating-system user. */
export const connectionUser = (url: string | Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const pgUser = yield* Config.String("PGUSER").pipe(Config.option, Effect.orElseSucceed(Option.none))
    return yield* Effect.fromResult(
      resolveConnectionUser(typeof url === "string" ? url : Redacted.value(url), {
        pgUser: Option.getOrUndefined(pgUser),
        osUser: processUserSources.osUser
      })
    )
  })
