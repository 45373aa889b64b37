/**
 * `tasker keys create|list|revoke`: the API keys in the database at `DATABASE_URL` (or the embedded database in
 * `--data-dir`), like `tasker migrate`. `create` prints the new key — `tk_<key_id>_<secret>` — once, as JSON with
 * its id, scopes and namespaces; only its SHA-256 digest is stored. `list` prints every key without secrets,
 * `revoke <key_id>` ends one at once. Each creation and revocation is recorded in the audit trail (key id `cli`).
 * docs/security.md explains the scopes.
 *
 * Definitions only: the handlers load `Keys.ts` when they run.
 */
import { Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { SCOPES } from "../domain/Scopes.ts"
import { databaseFlags } from "./Flags.ts"

const loadKeys = Effect.promise(() => import("./Keys.ts"))

const create = Command.make(
  "create",
  {
    name: Flag.String("name").pipe(
      Flag.withDescription("What the key is for (shown by keys list and in the audit trail), 1-128 characters"),
      Flag.filter((n) => n.trim().length > 0 && n.length <= 128, () => "Expected a name of 1 to 128 characters")
    ),
    scopes: Flag.Literals("scope", SCOPES).pipe(
      Flag.withDescription(`A scope the key has (repeat for several): ${SCOPES.join(", ")}`),
      Flag.atLeast(1)
    ),
    namespaces: Flag.String("namespace").pipe(
      Flag.withDescription("Limit the key to this namespace's tasks (repeat for several; default: every namespace)"),
      Flag.atLeast(0)
    ),
    ...databaseFlags
  },
  (flags) => Effect.flatMap(loadKeys, (m) => m.create(flags))
).pipe(
  Command.withDescription("Create an API key and print it (as JSON, with its key id) — the only time it is shown"),
  Command.withExamples([
    {
      command: "tasker keys create --name ci --scope tasks:read --scope tasks:write --namespace billing",
      description: "A key that reads and creates tasks of the billing namespace"
    },
    { command: "tasker keys create --name prometheus --scope metrics", description: "A key for scraping /metrics" }
  ])
)

const list = Command.make("list", databaseFlags, (flags) => Effect.flatMap(loadKeys, (m) => m.list(flags))).pipe(
  Command.withDescription("List the API keys, newest first, revoked ones included (no secrets), as JSON")
)

const revoke = Command.make(
  "revoke",
  {
    keyId: Argument.String("key_id").pipe(Argument.withDescription("The key id (keys list, or tk_<key_id>_…)")),
    ...databaseFlags
  },
  (flags) => Effect.flatMap(loadKeys, (m) => m.revoke(flags))
).pipe(Command.withDescription("Revoke an API key: requests with it are 401s from now on"))

export const KeysCommand = Command.make("keys").pipe(
  Command.withDescription(
    "Create, list and revoke API keys in DATABASE_URL (or the embedded database in --data-dir); docs/security.md"
  ),
  Command.withSubcommands([create, list, revoke])
)
