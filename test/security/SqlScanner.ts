/**
 * A static scan for SQL built from strings, over TypeScript sources (parsed with the TypeScript compiler, no type
 * information). The engine's SQL goes through effect/sql's tagged templates (`` sql`… ${value}` ``), which send
 * every interpolated value as a bound parameter; what this finds are the ways around that:
 *
 * - `unsafe-call`: `x.unsafe(text)` (effect/sql's raw statement) whose text is not a constant string;
 * - `literal-call`: `x.literal(text)` (a raw SQL fragment) whose text is not a constant string;
 * - `raw-clauses`: `sql.and(…)`, `sql.or(…)`, `sql.csv(…)`, `sql.join(…)` on a SQL client (their string arguments
 *   are raw SQL) with an argument that is not built from `sql\`…\`` fragments and constant strings;
 * - `driver-call`: `x.query(text)` / `x.exec(text)` whose text is not a constant string (a driver called
 *   directly; regular expressions' `exec` is skipped);
 * - `sql-template`: an untagged template string with `${…}` whose text looks like SQL (upper-case keywords);
 * - `sql-concat`: `+` joining a SQL-looking string literal with something that is not a literal.
 *
 * A finding is a place to review, not proof of a bug: the test keeps an allow-list of the reviewed ones, each with
 * its reason, and fails on any other.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import ts from "typescript"

export type Rule = "unsafe-call" | "literal-call" | "raw-clauses" | "driver-call" | "sql-template" | "sql-concat"

export interface Finding {
  readonly file: string
  readonly line: number
  readonly rule: Rule
  /** the flagged expression's source, whitespace collapsed, at most 200 characters */
  readonly text: string
}

/** Upper-case SQL keywords: what makes a string "look like SQL". Prose and log messages are not upper case. */
const SQL_WORDS =
  /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|FROM|WHERE|VALUES|RETURNING|JOIN|ORDER BY|GROUP BY|VACUUM|ANALYZE|SAVEPOINT|CREATE|DROP|ALTER|TRUNCATE|LISTEN|NOTIFY|GRANT|EXECUTE|COPY|SET)\b/

/** Receivers that are SQL clients, for the methods whose names are too common to flag everywhere (`join`, …). */
const SQL_CLIENT = /^(sql|db|client|conn|connection|pg|pglite|admin|tx|pool)$/i

const looksLikeSql = (text: string) => SQL_WORDS.test(text)

const isConstantString = (node: ts.Node | undefined): boolean =>
  node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))

/**
 * Clauses built from safe pieces only: `sql\`…\`` fragments (parameterized), constant strings, and arrays,
 * spreads and conditionals of them (`[...(x === null ? [] : [sql\`a = ${x}\`])]`).
 */
const isSafeClause = (node: ts.Node): boolean =>
  ts.isTaggedTemplateExpression(node) || isConstantString(node) ||
  (ts.isArrayLiteralExpression(node) && node.elements.every(isSafeClause)) ||
  (ts.isSpreadElement(node) && isSafeClause(node.expression)) ||
  (ts.isParenthesizedExpression(node) && isSafeClause(node.expression)) ||
  (ts.isConditionalExpression(node) && isSafeClause(node.whenTrue) && isSafeClause(node.whenFalse))

const normalize = (text: string) => text.replace(/\s+/g, " ").trim().slice(0, 200)

/** The string literals and other operands of a chain of `+`. */
const plusOperands = (node: ts.Expression): ReadonlyArray<ts.Expression> =>
  ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken
    ? [...plusOperands(node.left), ...plusOperands(node.right)]
    : ts.isParenthesizedExpression(node)
    ? plusOperands(node.expression)
    : [node]

const isPlus = (node: ts.Node) => ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken

/** Scans one source text. `file` is only used to label the findings. */
export const scanSource = (file: string, source: string): ReadonlyArray<Finding> => {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const findings: Array<Finding> = []
  const add = (node: ts.Node, rule: Rule) =>
    findings.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
      rule,
      text: normalize(node.getText(sf))
    })

  // names bound to regular expression literals (`const PATTERN = /…/`): their `exec` is not SQL
  const regexNames = new Set<string>()
  const collect = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer !== undefined &&
      ts.isRegularExpressionLiteral(node.initializer)
    ) regexNames.add(node.name.text)
    ts.forEachChild(node, collect)
  }
  collect(sf)

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text
      const receiver = node.expression.expression
      const first = node.arguments[0]
      if (method === "unsafe" && !isConstantString(first)) add(node, "unsafe-call")
      if (method === "literal" && !isConstantString(first)) add(node, "literal-call")
      if (
        ["and", "or", "csv", "join"].includes(method) && ts.isIdentifier(receiver) && SQL_CLIENT.test(receiver.text) &&
        !node.arguments.every(isSafeClause)
      ) add(node, "raw-clauses")
      if (
        (method === "query" || method === "exec") && !isConstantString(first) &&
        !ts.isRegularExpressionLiteral(receiver) && !(ts.isIdentifier(receiver) && regexNames.has(receiver.text))
      ) add(node, "driver-call")
    }
    if (ts.isTemplateExpression(node) && !ts.isTaggedTemplateExpression(node.parent)) {
      const text = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(" ")
      if (looksLikeSql(text)) add(node, "sql-template")
    }
    if (isPlus(node) && !isPlus(node.parent) && !(ts.isParenthesizedExpression(node.parent) && isPlus(node.parent.parent))) {
      const operands = plusOperands(node as ts.Expression)
      const sqlLiteral = operands.some((o) =>
        (isConstantString(o) && looksLikeSql((o as ts.StringLiteral).text)) ||
        (ts.isTemplateExpression(o) && looksLikeSql(o.head.text))
      )
      const dynamic = operands.some((o) => !isConstantString(o))
      if (sqlLiteral && dynamic) add(node, "sql-concat")
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return findings
}

/** Scans every `.ts` file under `dirs` (relative to `root`); findings name files relative to `root`. */
export const scanTree = (root: string, dirs: ReadonlyArray<string>): ReadonlyArray<Finding> =>
  dirs.flatMap((dir) =>
    (readdirSync(join(root, dir), { recursive: true }) as ReadonlyArray<string>)
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
      .sort()
      .flatMap((f) => {
        const path = join(root, dir, f)
        return scanSource(relative(root, path), readFileSync(path, "utf8"))
      })
  )

export interface Allowed {
  readonly file: string
  readonly rule: Rule
  /** a piece of the finding's `text` */
  readonly contains: string
  /** why this one is safe (reviewed) */
  readonly reason: string
}

/** The findings no allow-list entry covers, and the entries that cover no finding (stale). */
export const check = (findings: ReadonlyArray<Finding>, allowed: ReadonlyArray<Allowed>) => {
  const covers = (a: Allowed, f: Finding) => a.file === f.file && a.rule === f.rule && f.text.includes(a.contains)
  return {
    unreviewed: findings.filter((f) => !allowed.some((a) => covers(a, f))),
    stale: allowed.filter((a) => !findings.some((f) => covers(a, f)))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// PL/pgSQL in the migrations
// ---------------------------------------------------------------------------------------------------------------

export interface SqlFinding {
  readonly file: string
  readonly line: number
  readonly text: string
  readonly problem: string
}

/**
 * Dynamic SQL in SQL files: every `EXECUTE` must be `EXECUTE format('…', …)` whose format string uses only `%I`
 * (identifiers) and `%L` (literals), so that values are quoted by PostgreSQL, never pasted in with `%s` or `||`.
 */
export const scanSqlSource = (file: string, source: string): ReadonlyArray<SqlFinding> => {
  const findings: Array<SqlFinding> = []
  // comments and the text of string literals other than format strings cannot hide an EXECUTE: strip comments
  const code = source.replace(/--[^\n]*/g, (c) => " ".repeat(c.length))
  for (const match of code.matchAll(/\bEXECUTE\b/gi)) {
    const at = match.index
    const line = code.slice(0, at).split("\n").length
    const rest = code.slice(at + match[0].length)
    const text = normalize(rest.slice(0, 160))
    const format = /^\s*format\s*\(\s*((?:'(?:[^']|'')*'\s*)+)/i.exec(rest)
    if (format === null) {
      findings.push({ file, line, text, problem: "EXECUTE without format(...)" })
      continue
    }
    const formatString = format[1]!
    for (const placeholder of formatString.matchAll(/%(\d+\$)?[-]?[a-zA-Z]/g)) {
      if (!/[IL]$/.test(placeholder[0])) {
        findings.push({ file, line, text, problem: `format placeholder ${placeholder[0]} (only %I and %L quote)` })
      }
    }
  }
  return findings
}
