/**
 * A first check of a task context against the template's input JSON Schema, in the browser, so the form can name
 * the field before sending: `type`, `required`, `properties`, `enum`, `minimum`/`maximum`, `multipleOf`,
 * `minLength`/`maxLength`, `items`. The server validates the whole schema on creation (its 422 names the field), so
 * anything this subset does not cover is still caught there.
 */
type Schema = { readonly [key: string]: unknown }

const typeOf = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" && Number.isInteger(v) ? "integer" : typeof v

const matchesType = (v: unknown, type: string) => {
  const actual = typeOf(v)
  return actual === type || (type === "number" && actual === "integer")
}

/** The first problem, as `path: message`, or undefined when the value passes the subset. */
export const checkAgainstSchema = (value: unknown, schema: unknown, path = "context"): string | undefined => {
  if (typeof schema !== "object" || schema === null) return undefined
  const s = schema as Schema
  if (typeof s.type === "string" && !matchesType(value, s.type)) return `${path}: expected ${s.type}, got ${typeOf(value)}`
  if (Array.isArray(s.type) && !s.type.some((t) => typeof t === "string" && matchesType(value, t))) {
    return `${path}: expected ${s.type.join(" or ")}, got ${typeOf(value)}`
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    return `${path}: expected one of ${s.enum.map((e) => JSON.stringify(e)).join(", ")}`
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) return `${path}: must be at least ${s.minimum}`
    if (typeof s.maximum === "number" && value > s.maximum) return `${path}: must be at most ${s.maximum}`
    if (typeof s.multipleOf === "number" && value % s.multipleOf !== 0) return `${path}: must be a multiple of ${s.multipleOf}`
  }
  if (typeof value === "string") {
    if (typeof s.minLength === "number" && value.length < s.minLength) return `${path}: at least ${s.minLength} characters`
    if (typeof s.maxLength === "number" && value.length > s.maxLength) return `${path}: at most ${s.maxLength} characters`
  }
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>
    if (Array.isArray(s.required)) {
      for (const key of s.required) if (typeof key === "string" && !(key in obj)) return `${path}.${key}: is missing`
    }
    if (typeof s.properties === "object" && s.properties !== null) {
      for (const [key, sub] of Object.entries(s.properties as Schema)) {
        if (key in obj) {
          const problem = checkAgainstSchema(obj[key], sub, `${path}.${key}`)
          if (problem !== undefined) return problem
        }
      }
    }
  }
  if (Array.isArray(value) && typeof s.items === "object" && s.items !== null) {
    for (let i = 0; i < value.length; i++) {
      const problem = checkAgainstSchema(value[i], s.items, `${path}.${i}`)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}
