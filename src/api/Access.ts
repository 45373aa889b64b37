/**
 * Who may call what, in one place: the scope each route needs (`ROUTE_SCOPES`, by the OpenAPI operation id of the
 * endpoint, `<group>.<endpoint>`, or the path of a route outside the `HttpApi`), the caller of the current request
 * (`CurrentPrincipal`, set by `AccessLayer.ts` once the request is authenticated) and the namespace restriction of a
 * key. docs/security.md has the table.
 */
import { Context } from "effect"
import { hasScope, type Scope } from "../domain/Scopes.ts"

/** The scope each endpoint needs, by OpenAPI operation id; every `/v1` endpoint and `/ready` is listed. */
export const ROUTE_SCOPES = {
  "tasks.create": "tasks:write",
  "tasks.createBatch": "tasks:write",
  "tasks.list": "tasks:read",
  "tasks.get": "tasks:read",
  "tasks.cancel": "tasks:operate",
  "tasks.wait": "tasks:read",
  "tasks.listSteps": "tasks:read",
  "tasks.getStep": "tasks:read",
  "tasks.updateStep": "tasks:operate",
  "templates.list": "tasks:read",
  "templates.namespace": "tasks:read",
  "templates.versions": "tasks:read",
  "audit.list": "admin",
  "dashboard.overview": "tasks:read",
  "dashboard.dag": "tasks:read",
  "dashboard.timeline": "tasks:read",
  "dashboard.transitions": "tasks:read",
  "dashboard.deadLetters": "tasks:operate",
  "dashboard.redrive": "tasks:operate",
  "dashboard.discard": "tasks:operate",
  "dashboard.template": "tasks:read",
  "dashboard.uiConfig": "tasks:read",
  "dashboard.events": "tasks:read",
  "ready": "metrics"
} as const satisfies Record<string, Scope>

/** The scope of the Prometheus route (outside the `HttpApi`). */
export const METRICS_SCOPE: Scope = "metrics"

/** Paths that never need credentials: the health probes and the API's documentation. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(["/health", "/live", "/openapi.json", "/docs"])

/** The highest `priority` a caller without the `admin` scope may give a task. */
export const MAX_PRIORITY_WITHOUT_ADMIN = 100

/** The caller of a request. */
export interface Principal {
  /** a key's id; `bootstrap` for TASKER_API_TOKEN, `anonymous` when authentication is off */
  readonly keyId: string
  readonly scopes: ReadonlyArray<Scope>
  /** the only namespaces the caller may act on; undefined: all */
  readonly namespaces: ReadonlyArray<string> | undefined
  /** the client's address (the socket peer) */
  readonly clientAddress: string | undefined
}

/** The key id of every caller while authentication is off. */
export const ANONYMOUS_KEY_ID = "anonymous"

/** The caller with authentication off: everything is allowed. */
export const anonymousPrincipal = (clientAddress: string | undefined): Principal => ({
  keyId: ANONYMOUS_KEY_ID,
  scopes: ["admin"],
  namespaces: undefined,
  clientAddress
})

/** The caller of the current request; undefined outside a request that passed `AccessLayer.ts`. */
export const CurrentPrincipal = Context.Reference<Principal | undefined>("tasker/api/CurrentPrincipal", {
  defaultValue: () => undefined
})

/**
 * Whether the caller came in with authentication off (`anonymousPrincipal`). Any other caller presented a valid
 * credential, so authentication was on for its request: a bootstrap token, or an API key (which turns it on even
 * without `TASKER_API_TOKEN`).
 */
export const isAnonymous = (principal: Principal) => principal.keyId === ANONYMOUS_KEY_ID

export const principalHasScope = (principal: Principal, scope: Scope) => hasScope(principal.scopes, scope)

/** Whether the caller may act on tasks of `namespace`. */
export const mayUseNamespace = (principal: Principal, namespace: string) =>
  principal.namespaces === undefined || principal.namespaces.includes(namespace)
