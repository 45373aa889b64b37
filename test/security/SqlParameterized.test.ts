/**
 * All SQL is parameterized: a static scan of `src/` and `layers/` (`SqlScanner.ts`) finds every way around
 * effect/sql's tagged templates (raw `unsafe`/`literal` text, raw clauses, direct driver calls, SQL built in
 * template strings or with `+`). Each finding must be on the allow-list below, reviewed, with the reason it cannot
 * carry request data; a new one fails the test until someone reviews it (or, better, parameterizes it). The
 * migrations' PL/pgSQL `EXECUTE`s must quote with `format('%I', '%L')`.
 *
 * The scanner itself is tested on inline samples first, so that a scanner that finds nothing cannot pass as a
 * clean source tree.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root } from "../cli/Support.ts"
import { type Allowed, check, type Rule, scanSource, scanSqlSource, scanTree } from "./SqlScanner.ts"

/** The reviewed exceptions. Keep each `contains` specific, and the reason true. */
const ALLOWED: ReadonlyArray<Allowed> = [
  {
    file: "src/db/Migrations.ts",
    rule: "unsafe-call",
    contains: "sql.unsafe(statement)",
    reason: "runs the statements of the SQL migration files shipped in migrations/ (split by SqlScript); no request " +
      "data reaches them"
  },
  {
    file: "src/db/Maintenance.ts",
    rule: "unsafe-call",
    contains: "sql.unsafe(`VACUUM (ANALYZE) ${tables.map((t) => t.name).join(\", \")}`)",
    reason: "VACUUM takes no parameters; the table names come from pg_class (tasker_* tables of the current schema) " +
      "and are quoted with quote_ident by the query just above"
  },
  {
    file: "src/db/Maintenance.ts",
    rule: "sql-template",
    contains: "`VACUUM (ANALYZE) ${tables.map((t) => t.name).join(\", \")}`",
    reason: "the same VACUUM statement: quote_ident-quoted names from pg_class"
  },
  {
    file: "src/db/PgliteClient.ts",
    rule: "sql-template",
    contains: "`RELEASE SAVEPOINT ${name}`",
    reason: "effect/sql's driver hook for savepoints: `name` is the savepoint name effect/sql generates itself " +
      "(a counter), never user data"
  },
  {
    file: "src/db/PgliteClient.ts",
    rule: "driver-call",
    contains: "pglite.query(sql, bound.values,",
    reason: "the SqlClient driver for PGlite: `sql` is the statement effect/sql's PostgreSQL compiler produced " +
      "(placeholders $1…$n) and the values are bound separately"
  },
  {
    file: "src/db/PgliteClient.ts",
    rule: "driver-call",
    contains: "pglite.exec(sql, { rowMode })",
    reason: "the driver's simple-protocol path, taken only for `unsafe(...).unprepared` statements without " +
      "parameters (the migrations and the VACUUM above)"
  }
]

const findingsOf = (source: string) => scanSource("sample.ts", source).map((f) => f.rule)

describe("the SQL scanner", () => {
  it("finds nothing in parameterized SQL and in code that is not SQL", () => {
    const safe = [
      "const rows = sql`SELECT * FROM tasker_tasks WHERE task_uuid = ${id} AND name = ${name}`",
      "yield* sql`UPDATE t SET a = ${a} WHERE b IN ${sql.in(list)}`",
      "yield* sql.unsafe(\"SELECT 1\")",
      "client.unsafe(`SELECT set_config($1, $2, false)`, [name, value])",
      "const where = sql.and([...(f.a === null ? [] : [sql`a = ${f.a}`]), sql`b = ${f.b}`, \"c IS NULL\"])",
      "const PATTERN = /^(\\d+)_(.*)$/; const m = PATTERN.exec(file)",
      "const t = /^\\$([A-Za-z_]*)\\$/.exec(script)",
      "const message = `Invalid value for flag ${flag}: expected ${n} items`",
      "const line = \"select a value for \" + name",
      "const parts = names.join(\", \")"
    ]
    for (const source of safe) expect(findingsOf(source), source).toEqual([])
  })

  it("flags SQL built from strings", () => {
    const unsafe: ReadonlyArray<[string, ReadonlyArray<Rule>]> = [
      ["yield* sql.unsafe(`SELECT * FROM tasker_tasks WHERE name = '${name}'`)", ["unsafe-call", "sql-template"]],
      ["yield* sql.unsafe(\"DELETE FROM tasker_tasks WHERE name = '\" + name + \"'\")", ["unsafe-call", "sql-concat"]],
      ["yield* sql.unsafe(query)", ["unsafe-call"]],
      ["const rows = sql`SELECT ${sql.unsafe(column)} FROM t`", ["unsafe-call"]],
      ["const frag = sql.literal(orderBy)", ["literal-call"]],
      ["const where = sql.and([`name = '${name}'`])", ["raw-clauses"]],
      ["const where = sql.or(clauses)", ["raw-clauses"]],
      ["await pool.query(\"SELECT * FROM t WHERE id = \" + id)", ["driver-call", "sql-concat"]],
      ["await pglite.exec(text)", ["driver-call"]],
      ["const q = `UPDATE tasker_tasks SET priority = ${p}`", ["sql-template"]],
      ["let q = base; q = q + \" WHERE a = \" + value", ["sql-concat"]]
    ]
    for (const [source, rules] of unsafe) expect([...findingsOf(source)].sort(), source).toEqual([...rules].sort())
  })

  it("a new unsafe call in a source file is unreviewed; an allow-list entry with nothing to cover is stale", () => {
    const file = "src/tasks/TaskListing.ts"
    const original = readFileSync(join(root, file), "utf8")
    expect(check(scanSource(file, original), [])).toEqual({ unreviewed: [], stale: [] })
    const changed = original + "\nexport const byName = (name: string) => sql.unsafe(`SELECT * FROM tasker_tasks WHERE name = '${name}'`)\n"
    const { stale, unreviewed } = check(scanSource(file, changed), ALLOWED)
    expect(unreviewed.map((f) => f.rule).sort()).toEqual(["sql-template", "unsafe-call"])
    expect(unreviewed.every((f) => f.file === file && f.text.includes("WHERE name = '${name}'"))).toBe(true)
    // the real entries cover nothing in this one file: all stale here
    expect(stale).toHaveLength(ALLOWED.length)
  })

  it("flags PL/pgSQL EXECUTE that does not quote with format %I / %L", () => {
    expect(scanSqlSource("a.sql", "BEGIN\n  EXECUTE format('CREATE TABLE %I PARTITION OF q FOR VALUES IN (%L)', t, v);\nEND")).toEqual([])
    expect(scanSqlSource("a.sql", "-- EXECUTE 'x' || y in a comment\nSELECT 1;")).toEqual([])
    const bad = [
      "EXECUTE 'DROP TABLE ' || p_name;",
      "EXECUTE format('SELECT * FROM t WHERE a = %s', p_value);",
      "EXECUTE format('ALTER TABLE %I SET (x = 0, ' 'y = %s)', p_name, p_value);",
      "execute v_statement;"
    ]
    for (const source of bad) expect(scanSqlSource("a.sql", source), source).toHaveLength(1)
  })
})

describe("the sources", () => {
  it("all SQL in src/ and layers/ is parameterized, apart from the reviewed exceptions", () => {
    const files = ["src", "layers"].flatMap((dir) =>
      (readdirSync(join(root, dir), { recursive: true }) as ReadonlyArray<string>).filter((f) => f.endsWith(".ts"))
    )
    expect(files.length).toBeGreaterThan(50)
    const { stale, unreviewed } = check(scanTree(root, ["src", "layers"]), ALLOWED)
    expect(
      unreviewed.map((f) => `${f.file}:${f.line} ${f.rule}: ${f.text}`),
      "SQL built from strings: use sql`…` with ${values}, or review it and add it to ALLOWED with its reason"
    ).toEqual([])
    expect(stale.map((a) => `${a.file} ${a.rule}: ${a.contains}`), "allow-list entries that cover nothing").toEqual([])
    for (const a of ALLOWED) expect(a.reason.length, a.contains).toBeGreaterThan(20)
  })

  it("the migrations' dynamic SQL quotes with format %I / %L", () => {
    const dir = join(root, "migrations")
    const files = readdirSync(dir).filter((f) => f.endsWith(".sql"))
    expect(files.length).toBeGreaterThan(0)
    const sources = files.map((f) => [f, readFileSync(join(dir, f), "utf8")] as const)
    // there is dynamic SQL to check
    expect(sources.some(([, s]) => /\bEXECUTE\s+format\(/i.test(s))).toBe(true)
    expect(sources.flatMap(([f, s]) => scanSqlSource(f, s))).toEqual([])
  })
})
