/**
 * Splits a SQL script into statements. The PostgreSQL client sends one statement per query (extended protocol),
 * so migration files are split here: on `;` outside quotes, dollar quotes and comments.
 */

/** The statements of `script`, trimmed, without empty ones or comment-only ones. */
export const splitSqlStatements = (script: string): ReadonlyArray<string> => {
  const statements: Array<string> = []
  let start = 0
  let i = 0
  const n = script.length
  const push = (end: number) => {
    const text = script.slice(start, end).trim()
    if (text.length > 0 && stripComments(text).trim().length > 0) statements.push(text)
  }
  while (i < n) {
    const c = script[i]!
    const next = script[i + 1]
    if (c === "-" && next === "-") {
      const eol = script.indexOf("\n", i)
      i = eol === -1 ? n : eol + 1
    } else if (c === "/" && next === "*") {
      i = skipBlockComment(script, i)
    } else if (c === "'") {
      // E'…' strings allow backslash escapes
      const escapes = i > 0 && (script[i - 1] === "E" || script[i - 1] === "e") && !isIdentChar(script[i - 2])
      i = skipQuoted(script, i, "'", escapes)
    } else if (c === "\"") {
      i = skipQuoted(script, i, "\"", false)
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i))
      if (tag !== null && !isIdentChar(script[i - 1])) {
        const close = script.indexOf(tag[0], i + tag[0].length)
        i = close === -1 ? n : close + tag[0].length
      } else {
        i++
      }
    } else if (c === ";") {
      push(i)
      start = i + 1
      i++
    } else {
      i++
    }
  }
  push(n)
  return statements
}

const isIdentChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c)

const skipBlockComment = (s: string, from: number): number => {
  let depth = 0
  let i = from
  while (i < s.length) {
    if (s[i] === "/" && s[i + 1] === "*") {
      depth++
      i += 2
    } else if (s[i] === "*" && s[i + 1] === "/") {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  return s.length
}

const skipQuoted = (s: string, from: number, quote: string, backslashEscapes: boolean): number => {
  let i = from + 1
  while (i < s.length) {
    const c = s[i]
    if (backslashEscapes && c === "\\") {
      i += 2
    } else if (c === quote) {
      if (s[i + 1] === quote) i += 2
      else return i + 1
    } else {
      i++
    }
  }
  return s.length
}

const stripComments = (s: string): string => s.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "")
