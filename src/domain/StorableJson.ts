/**
 * What PostgreSQL can store: no NUL character and no unpaired UTF-16 surrogate in any string or object key (`jsonb`
 * rejects both, and text columns would silently get U+FFFD instead), and JSON nested at most `MAX_JSON_DEPTH`
 * levels deep. The API's request schemas and the in-process task creation check input with these, so bad input is
 * refused with the field it is in before anything reaches the database.
 */

/** The deepest nesting accepted in a JSON input (contexts, result data). */
export const MAX_JSON_DEPTH = 64

/** An unpaired UTF-16 surrogate (`"\ud800"` in JSON): not Unicode text, so PostgreSQL cannot store it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why PostgreSQL cannot store the string, or undefined when it can. */
export const unstorable = (s: string): string | undefined =>
  s.includes("\u0000")
    ? "must not contain NUL (\\u0000) characters"
    : LONE_SURROGATE.test(s)
    ? "must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)"
    : undefined

/** The first string (or key) PostgreSQL cannot store, or over-deep value, of a JSON tree, as a path (iterative: no recursion). */
export const findBadJson = (root: unknown): { path: ReadonlyArray<PropertyKey>; message: string } | undefined => {
  const stack: Array<{ value: unknown; path: ReadonlyArray<PropertyKey> }> = [{ value: root, path: [] }]
  while (stack.length > 0) {
    const { path, value } = stack.pop()!
    if (typeof value === "string") {
      const problem = unstorable(value)
      if (problem !== undefined) return { path, message: problem }
    } else if (typeof value === "object" && value !== null) {
      if (path.length >= MAX_JSON_DEPTH) return { path, message: `must not be nested deeper than ${MAX_JSON_DEPTH} levels` }
      if (Array.isArray(value)) {
        value.forEach((item, i) => stack.push({ value: item, path: [...path, i] }))
      } else {
        for (const [key, item] of Object.entries(value)) {
          const problem = unstorable(key)
          if (problem !== undefined) return { path: [...path, key], message: `keys ${problem}` }
          stack.push({ value: item, path: [...path, key] })
        }
      }
    }
  }
  return undefined
}
