/**
 * The scopes of an API key (docs/security.md): what a key may do. `admin` includes every other scope.
 *
 * | scope | allows |
 * |---|---|
 * | `tasks:read` | read and list tasks, steps and templates, wait for a task |
 * | `tasks:write` | create tasks (single and batch) |
 * | `tasks:operate` | cancel tasks, retry and resolve steps |
 * | `metrics` | `/metrics` and `/ready` |
 * | `admin` | everything: the audit trail, a forced resolve, any `priority` |
 */
import { Schema } from "effect"

export const SCOPES = ["tasks:read", "tasks:write", "tasks:operate", "metrics", "admin"] as const

export const Scope = Schema.Literals(SCOPES)
export type Scope = typeof Scope.Type

export const isScope = (value: string): value is Scope => (SCOPES as ReadonlyArray<string>).includes(value)

/** Whether a key holding `scopes` has `required` (`admin` holds them all). */
export const hasScope = (scopes: ReadonlyArray<Scope>, required: Scope): boolean =>
  scopes.includes("admin") || scopes.includes(required)
