import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Result, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { engineLayer } from "../../layers/engine.ts"
import { TaskInitializer } from "../../src/tasks/TaskInitializer.ts"
import { TaskQueries } from "../../src/tasks/TaskQueries.ts"
import { defaultRetryPolicy, type StepHandler, validateWorkflow, type WorkflowDefinition } from "../../src/workflow/Workflow.ts"
import {
  bindHandlers,
  loadTemplateDirectory,
  loadTemplateFile,
  parseTemplateYaml
} from "../../src/workflow/YamlTemplates.ts"
import { TestDatabaseLayer } from "../support/TestDatabase.ts"

const fixtures = fileURLToPath(new URL("../fixtures/templates/", import.meta.url))
const linearFile = join(fixtures, "valid/linear_workflow/mathematical_sequence.yaml")
const diamondFile = join(fixtures, "valid/diamond_workflow/diamond_pattern.yml")

const step = (template: WorkflowDefinition<unknown>, name: string) => {
  const found = template.steps.find((s) => s.name === name)
  assert.isDefined(found, `step ${name}`)
  return found!
}

/** A minimal template around the given steps block (YAML, indented as list items under `steps:`). */
const minimal = (steps: string, extra = "") =>
  `name: mini\nnamespace_name: yaml_tests\nversion: 1.0.0\n${extra}steps:\n${steps}`

const decodes = (template: WorkflowDefinition<unknown>, context: unknown) =>
  Exit.isSuccess(Schema.decodeUnknownExit(template.input!)(context))

// handlers for the linear workflow: step 1 squares the context's even_number, each next one squares its parent
const squareParent = (parent: string): StepHandler<never> => ({
  kind: "effect",
  run: (ctx) => ctx.dependency(parent, Schema.Number).pipe(Effect.map((n) => n * n))
})
const linearHandlers: Record<string, StepHandler<never>> = {
  LinearStep1Handler: {
    kind: "effect",
    run: (ctx) => Effect.succeed((ctx.context as { readonly even_number: number }).even_number ** 2)
  },
  LinearStep2Handler: squareParent("linear_step_1"),
  LinearStep3Handler: squareParent("linear_step_2"),
  LinearStep4Handler: squareParent("linear_step_3")
}

describe("parseTemplateYaml", () => {
  it.effect("reads every field of the linear workflow", () =>
    Effect.gen(function*() {
      const t = yield* loadTemplateFile(linearFile)
      assert.strictEqual(t.namespace, "rust_e2e_linear")
      assert.strictEqual(t.name, "mathematical_sequence")
      assert.strictEqual(t.version, "1.0.0")
      assert.strictEqual(t.description, "Sequential mathematical operations: input → square → square → square → square")
      assert.strictEqual(t.identityStrategy, "strict")
      assert.deepStrictEqual(t.inputJsonSchema, {
        type: "object",
        required: ["even_number"],
        properties: {
          even_number: { type: "integer", minimum: 2, maximum: 100, description: "Even number for mathematical sequence" }
        }
      })
      assert.deepStrictEqual(t.steps.map((s) => s.name), ["linear_step_1", "linear_step_2", "linear_step_3", "linear_step_4"])
      assert.deepStrictEqual(t.steps.map((s) => s.dependsOn), [[], ["linear_step_1"], ["linear_step_2"], ["linear_step_3"]])
      assert.deepStrictEqual(
        t.steps.map((s) => s.callable),
        ["LinearStep1Handler", "LinearStep2Handler", "LinearStep3Handler", "LinearStep4Handler"]
      )
      assert.deepStrictEqual(t.steps.map((s) => s.handler), [undefined, undefined, undefined, undefined])
      assert.deepStrictEqual(t.steps.map((s) => s.timeoutSeconds), [30, 30, 45, 60])
      // an empty system_dependency falls back to system_dependencies.primary
      assert.deepStrictEqual(t.steps.map((s) => s.system), ["default", "default", "math_engine", "default"])
      assert.strictEqual(step(t, "linear_step_1").description, "Square the initial even number (n → n²)")
      assert.deepStrictEqual(step(t, "linear_step_1").inputs, { operation: "square", step_number: 1 })
      assert.deepStrictEqual(step(t, "linear_step_4").inputs, { operation: "square", step_number: 4, final_result: "input^16" })
      assert.deepStrictEqual(step(t, "linear_step_1").retry, {
        retryable: true,
        maxAttempts: 3,
        backoff: "exponential",
        backoffBaseMs: 1000,
        maxBackoffMs: 30_000
      })
      assert.deepStrictEqual(step(t, "linear_step_2").retry, {
        retryable: true,
        maxAttempts: 3,
        backoff: "linear",
        backoffBaseMs: 500,
        maxBackoffMs: 5000
      })
      assert.deepStrictEqual(step(t, "linear_step_3").retry, {
        retryable: false,
        maxAttempts: 1,
        backoff: "none",
        backoffBaseMs: 0,
        maxBackoffMs: 0
      })
      assert.deepStrictEqual(step(t, "linear_step_4").retry, {
        retryable: true,
        maxAttempts: 5,
        backoff: "fibonacci",
        backoffBaseMs: 200,
        maxBackoffMs: 10_000
      })
      assert.isTrue(Result.isSuccess(validateWorkflow(t)))
    }))

  it.effect("turns input_schema into the template's input schema", () =>
    Effect.gen(function*() {
      const t = yield* loadTemplateFile(linearFile)
      assert.isDefined(t.input)
      assert.isTrue(decodes(t, { even_number: 6 }))
      assert.isTrue(decodes(t, { even_number: 100 }))
      assert.isFalse(decodes(t, {}), "even_number is required")
      assert.isFalse(decodes(t, { even_number: "6" }), "a string is not an integer")
      assert.isFalse(decodes(t, { even_number: 6.5 }), "not an integer")
      assert.isFalse(decodes(t, { even_number: 1 }), "below minimum")
      assert.isFalse(decodes(t, { even_number: 200 }), "above maximum")
      // without input_schema there is nothing to validate
      const bare = yield* parseTemplateYaml(minimal("  - name: a\n    handler: { callable: A }\n"))
      assert.isUndefined(bare.input)
      assert.strictEqual(bare.inputJsonSchema, null)
    }))

  it.effect("applies environment overrides only for the environment asked for", () =>
    Effect.gen(function*() {
      const base = yield* loadTemplateFile(linearFile)
      const test = yield* loadTemplateFile(linearFile, { environment: "test" })
      // ALL: timeout 10 and max_attempts 2 everywhere; the rest of each retry block is kept
      assert.deepStrictEqual(test.steps.map((s) => s.timeoutSeconds), [10, 10, 10, 10])
      assert.deepStrictEqual(test.steps.map((s) => s.retry.maxAttempts), [2, 2, 2, 2])
      assert.deepStrictEqual(step(test, "linear_step_2").retry, {
        retryable: true,
        maxAttempts: 2,
        backoff: "linear",
        backoffBaseMs: 500,
        maxBackoffMs: 5000
      })
      assert.strictEqual(step(test, "linear_step_3").retry.retryable, false)
      // the later, named entry for step 4 changes only its backoff kind
      assert.deepStrictEqual(step(test, "linear_step_4").retry, {
        retryable: true,
        maxAttempts: 2,
        backoff: "none",
        backoffBaseMs: 200,
        maxBackoffMs: 10_000
      })
      assert.deepStrictEqual(test.steps.map((s) => s.inputs), base.steps.map((s) => s.inputs))

      const dev = yield* loadTemplateFile(linearFile, { environment: "development" })
      // initialization is merged key by key over the step's own
      assert.deepStrictEqual(step(dev, "linear_step_1").inputs, { operation: "square", step_number: 101, debug_mode: true })
      assert.deepStrictEqual(step(dev, "linear_step_2").inputs, { operation: "square", step_number: 2 })
      assert.deepStrictEqual(dev.steps.map((s) => s.timeoutSeconds), [30, 30, 45, 60])
      assert.deepStrictEqual(dev.steps.map((s) => s.retry), base.steps.map((s) => s.retry))

      // an environment the template does not mention changes nothing
      const prod = yield* loadTemplateFile(linearFile, { environment: "production" })
      assert.deepStrictEqual(
        prod.steps.map((s) => [s.timeoutSeconds, s.retry, s.inputs]),
        base.steps.map((s) => [s.timeoutSeconds, s.retry, s.inputs])
      )
    }))

  it.effect("applies override entries in the order listed (a later ALL wins over an earlier named entry)", () =>
    Effect.gen(function*() {
      const yaml = minimal(
        "  - name: a\n    handler: { callable: A }\n  - name: b\n    handler: { callable: B }\n    dependencies: [a]\n",
        ""
      ) + "environments:\n  ci:\n    steps:\n      - name: a\n        timeout_seconds: 5\n      - name: ALL\n        timeout_seconds: 7\n      - name: b\n        timeout_seconds: 9\n"
      const t = yield* parseTemplateYaml(yaml, { environment: "ci" })
      assert.deepStrictEqual(t.steps.map((s) => s.timeoutSeconds), [7, 9])
    }))

  it.effect("fills in tasker-core's defaults", () =>
    Effect.gen(function*() {
      const t = yield* parseTemplateYaml(
        minimal(
          "  - name: a\n    handler: { callable: A }\n  - name: b\n    handler:\n      callable: B\n      initialization:\n    retry:\n      max_attempts: 5\n  - name: c\n    handler: { callable: C }\n    retry:\n      backoff: linear\n      backoff_base_ms:\n"
        )
      )
      assert.deepStrictEqual(step(t, "a").retry, defaultRetryPolicy)
      assert.deepStrictEqual(step(t, "a").retry, {
        retryable: true,
        maxAttempts: 3,
        backoff: "exponential",
        backoffBaseMs: 1000,
        maxBackoffMs: 30_000
      })
      assert.deepStrictEqual(step(t, "b").retry, { ...defaultRetryPolicy, maxAttempts: 5 })
      // an empty field (YAML null) is the default too
      assert.deepStrictEqual(step(t, "c").retry, { ...defaultRetryPolicy, backoff: "linear" })
      assert.deepStrictEqual(t.steps.map((s) => s.system), ["default", "default", "default"])
      assert.deepStrictEqual(t.steps.map((s) => s.dependsOn), [[], [], []])
      assert.deepStrictEqual(t.steps.map((s) => s.timeoutSeconds), [undefined, undefined, undefined])
      assert.deepStrictEqual(t.steps.map((s) => s.inputs), [{}, {}, {}])
      assert.deepStrictEqual(t.steps.map((s) => s.description), [undefined, undefined, undefined])
      assert.strictEqual(t.description, undefined)
    }))

  it.effect("reads system_dependencies.primary, retry.limit as max_attempts and identity_strategy", () =>
    Effect.gen(function*() {
      const diamond = yield* loadTemplateFile(diamondFile)
      assert.strictEqual(diamond.namespace, "rust_e2e_diamond")
      assert.deepStrictEqual(diamond.steps.map((s) => s.system), ["math_service", "math_service", "other_service", "math_service"])
      assert.deepStrictEqual(step(diamond, "diamond_start").retry, { ...defaultRetryPolicy, maxAttempts: 3 })
      assert.deepStrictEqual(step(diamond, "diamond_end").dependsOn, ["diamond_branch_b", "diamond_branch_c"])

      const limited = yield* parseTemplateYaml(
        minimal("  - name: a\n    handler: { callable: A }\n    retry: { limit: 7, backoff: none }\n", "identity_strategy: always_unique\n")
      )
      assert.deepStrictEqual(step(limited, "a").retry, { ...defaultRetryPolicy, maxAttempts: 7, backoff: "none" })
      assert.strictEqual(limited.identityStrategy, "always_unique")

      // an unquoted version that YAML reads as a number keeps its text
      const numeric = yield* parseTemplateYaml("name: n\nnamespace_name: yaml_tests\nversion: 1.10\nsteps: []\n")
      assert.strictEqual(numeric.version, "1.10")
    }))
})

describe("parseTemplateYaml errors", () => {
  it.effect("rejects an unknown key in a retry block, naming the file, template, step and key", () =>
    Effect.gen(function*() {
      const path = join(fixtures, "invalid/retry_unknown_key.yaml")
      const error = yield* Effect.flip(loadTemplateFile(path))
      assert.strictEqual(error._tag, "InvalidTemplateFile")
      assert.strictEqual(error.source, path)
      assert.strictEqual(error.template, "yaml_errors/bad_retry@1.0.0")
      assert.deepStrictEqual(error.problems, [
        `step "first": retry: unknown key "max_retries" (known: retryable, max_attempts, limit, backoff, backoff_base_ms, max_backoff_ms)`
      ])
      assert.include(error.message, path)
      assert.include(error.message, "max_retries")
    }))

  it.effect("rejects unknown keys in overrides and steps, and names every problem", () =>
    Effect.gen(function*() {
      const yaml = minimal(
        "  - name: a\n    handler: { callable: A }\n    timeout: 5\n",
        "owner: me\n"
      ) + "environments:\n  test:\n    steps:\n      - name: a\n        retry: { limits: 2 }\n        handler: { callable: Other }\n"
      const error = yield* Effect.flip(parseTemplateYaml(yaml, { environment: "test" }))
      assert.strictEqual(error.source, "<string>")
      assert.strictEqual(error.template, "yaml_tests/mini@1.0.0")
      assert.sameMembers([...error.problems], [
        `unknown top-level key "owner"`,
        `step "a": unknown key "timeout"`,
        `environments.test: step override "a": retry: unknown key "limits" (known: retryable, max_attempts, limit, backoff, backoff_base_ms, max_backoff_ms)`,
        `environments.test: step override "a": handler: unknown key "callable"`
      ])
    }))

  it.effect("rejects limit together with max_attempts, and overrides of unknown steps in any environment", () =>
    Effect.gen(function*() {
      const yaml = minimal("  - name: a\n    handler: { callable: A }\n    retry: { limit: 2, max_attempts: 3 }\n") +
        "environments:\n  staging:\n    steps:\n      - name: a_typo\n        timeout_seconds: 3\n"
      const error = yield* Effect.flip(parseTemplateYaml(yaml, { source: "inline.yaml" }))
      assert.strictEqual(error.source, "inline.yaml")
      assert.deepStrictEqual(error.problems, [
        `step "a": retry: give max_attempts or its alias limit, not both`,
        `environments.staging: step override "a_typo": the template has no step "a_typo"`
      ])
    }))

  it.effect("rejects wrong types and missing fields, naming them", () =>
    Effect.gen(function*() {
      const yaml = "name: bad\nnamespace_name: yaml_tests\nsteps:\n  - name: a\n    handler: {}\n    retry: { backoff: quadratic, max_attempts: -1 }\n    timeout_seconds: 0\n  - handler: { callable: 3 }\n"
      const error = yield* Effect.flip(parseTemplateYaml(yaml))
      assert.strictEqual(error.template, "yaml_tests/bad")
      assert.sameMembers([...error.problems], [
        "version: is required",
        `step "a": handler.callable: is required`,
        `step "a": retry.backoff: Expected "none" | "linear" | "exponential" | "fibonacci"`,
        `step "a": retry.max_attempts: Expected a value greater than or equal to 0`,
        `step "a": timeout_seconds: Expected a value greater than 0`,
        "steps[1].name: is required",
        "steps[1].handler.callable: Expected string"
      ])
    }))

  it.effect("rejects malformed YAML with its position", () =>
    Effect.gen(function*() {
      const path = join(fixtures, "invalid/malformed.yaml")
      const error = yield* Effect.flip(loadTemplateFile(path))
      assert.strictEqual(error.source, path)
      assert.strictEqual(error.problems.length, 1)
      assert.match(error.problems[0]!, /^YAML: .*at line 7, column 5$/)

      const duplicate = yield* Effect.flip(parseTemplateYaml("name: a\nname: b\n"))
      assert.match(duplicate.problems[0]!, /^YAML: Map keys must be unique at line 2/)
      const twoDocuments = yield* Effect.flip(parseTemplateYaml(minimal("  - name: a\n    handler: { callable: A }\n") + "---\nname: b\n"))
      assert.match(twoDocuments.problems[0]!, /^YAML: Source contains multiple documents/)
      const sequence = yield* Effect.flip(parseTemplateYaml("- name: a\n"))
      assert.deepStrictEqual(sequence.problems, ["the document must be a YAML mapping of the template's fields (got a sequence)"])
      const empty = yield* Effect.flip(parseTemplateYaml(""))
      assert.deepStrictEqual(empty.problems, ["the document must be a YAML mapping of the template's fields (got an empty document)"])
    }))

  it.effect("reports a file that cannot be read", () =>
    Effect.gen(function*() {
      const path = join(fixtures, "valid/missing.yaml")
      const error = yield* Effect.flip(loadTemplateFile(path))
      assert.strictEqual(error.source, path)
      assert.match(error.problems[0]!, /^cannot read the file: ENOENT/)
    }))
})

describe("hostile documents", () => {
  it.effect("an alias bomb is a template error, not a crash", () =>
    Effect.gen(function*() {
      // each level doubles the one before: 2^12 nodes from a few lines
      const levels = Array.from({ length: 12 }, (_, i) => `l${i + 1}: &l${i + 1} [*l${i}, *l${i}]`)
      const text = minimal("  - name: a\n    handler: { callable: A }\n", `bomb:\n  l0: &l0 [x]\n${levels.map((l) => `  ${l}`).join("\n")}\n`)
      const error = yield* Effect.flip(parseTemplateYaml(text))
      assert.strictEqual(error._tag, "InvalidTemplateFile")
      assert.match(error.problems[0]!, /^YAML: .*alias/i)
    }))

  it.effect("a callable naming a member of Object.prototype binds no handler", () =>
    Effect.gen(function*() {
      for (const callable of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
        const t = yield* parseTemplateYaml(minimal(`  - name: a\n    handler: { callable: ${callable} }\n`))
        const error = yield* Effect.flip(bindHandlers(t, {}))
        assert.strictEqual(error._tag, "InvalidTemplate", callable)
        assert.match(error.problems.join("; "), /handler/, callable)
      }
    }))
})

describe("graph validation and handlers", () => {
  it.effect("a cycle and an unknown dependency are InvalidTemplate problems, named", () =>
    Effect.gen(function*() {
      const cyclic = yield* parseTemplateYaml(minimal(
        "  - name: a\n    handler: { callable: A }\n    dependencies: [c]\n" +
          "  - name: b\n    handler: { callable: B }\n    dependencies: [a]\n" +
          "  - name: c\n    handler: { callable: C }\n    dependencies: [b]\n"
      ))
      const cycleError = yield* Effect.flip(Effect.fromResult(validateWorkflow(cyclic)))
      assert.strictEqual(cycleError._tag, "InvalidTemplate")
      assert.strictEqual(cycleError.template, "yaml_tests/mini@1.0.0")
      assert.deepStrictEqual(cycleError.problems, ["dependency cycle: a -> c -> b -> a"])

      const unknown = yield* parseTemplateYaml(minimal(
        "  - name: a\n    handler: { callable: A }\n  - name: b\n    handler: { callable: B }\n    dependencies: [a, zzz]\n"
      ))
      const handlers = { A: squareParent("x"), B: squareParent("x") }
      const error = yield* Effect.flip(bindHandlers(unknown, handlers))
      assert.strictEqual(error._tag, "InvalidTemplate")
      assert.deepStrictEqual(error.problems, [`step "b" depends on unknown step "zzz"`])

      const cycleBound = yield* Effect.flip(bindHandlers(cyclic, { A: squareParent("x"), B: squareParent("x"), C: squareParent("x") }))
      assert.deepStrictEqual(cycleBound.problems, ["dependency cycle: a -> c -> b -> a"])
    }))

  it.effect("bindHandlers attaches handlers by callable and names the missing ones", () =>
    Effect.gen(function*() {
      const t = yield* loadTemplateFile(linearFile)
      const bound = yield* bindHandlers(t, linearHandlers)
      assert.deepStrictEqual(
        bound.steps.map((s) => s.handler),
        ["LinearStep1Handler", "LinearStep2Handler", "LinearStep3Handler", "LinearStep4Handler"].map((c) => linearHandlers[c])
      )
      const { LinearStep4Handler: _, ...three } = linearHandlers
      const error = yield* Effect.flip(bindHandlers(t, { ...three, LinearStep2Hndler: squareParent("linear_step_1") }))
      assert.strictEqual(error.template, "rust_e2e_linear/mathematical_sequence@1.0.0")
      assert.deepStrictEqual(error.problems, [`step "linear_step_4": no handler for "LinearStep4Handler"`])
      // a handler keyed by the step's name is used when none matches the callable
      const step4 = squareParent("linear_step_3")
      const byName = yield* bindHandlers(t, { ...three, linear_step_4: step4 })
      assert.strictEqual(step(byName, "linear_step_4").handler, step4)
    }))
})

describe("loadTemplateDirectory", () => {
  it.effect("loads *.yml and *.yaml recursively, sorted by path, skipping other files", () =>
    Effect.gen(function*() {
      const templates = yield* loadTemplateDirectory(join(fixtures, "valid"))
      assert.deepStrictEqual(
        templates.map((t) => `${t.namespace}/${t.name}@${t.version}`),
        ["rust_e2e_diamond/diamond_pattern@1.0.0", "rust_e2e_linear/mathematical_sequence@1.0.0"]
      )
      const withEnv = yield* loadTemplateDirectory(join(fixtures, "valid"), { environment: "test" })
      assert.deepStrictEqual(withEnv[1]!.steps.map((s) => s.timeoutSeconds), [10, 10, 10, 10])
    }))

  it.effect("fails on the first invalid file, naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(loadTemplateDirectory(fixtures))
      // invalid/malformed.yaml sorts before invalid/retry_unknown_key.yaml and valid/
      assert.strictEqual(error.source, join(fixtures, "invalid/malformed.yaml"))
      const missing = yield* Effect.flip(loadTemplateDirectory(join(fixtures, "nope")))
      assert.strictEqual(missing.source, join(fixtures, "nope"))
      assert.match(missing.problems[0]!, /^cannot read the directory: ENOENT/)
    }))

  it.effect("rejects two files defining the same template", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "yaml-templates-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const yaml = minimal("  - name: a\n    handler: { callable: A }\n")
      yield* Effect.promise(() => writeFile(join(dir, "a.yaml"), yaml))
      yield* Effect.promise(() => writeFile(join(dir, "b.YML"), yaml))
      const error = yield* Effect.flip(loadTemplateDirectory(dir))
      assert.strictEqual(error.source, join(dir, "b.YML"))
      assert.strictEqual(error.template, "yaml_tests/mini@1.0.0")
      assert.deepStrictEqual(error.problems, [`yaml_tests/mini@1.0.0 is already defined in ${join(dir, "a.yaml")}`])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// End to end on a real database
// ---------------------------------------------------------------------------------------------------------------

const EngineFromYaml = Layer.unwrap(
  loadTemplateFile(linearFile, { environment: "test" }).pipe(
    Effect.flatMap((template) => bindHandlers(template, linearHandlers)),
    Effect.map((bound) => engineLayer({ templates: [bound], settings: { pollIntervalMs: 200 } }))
  )
).pipe(Layer.provideMerge(TestDatabaseLayer))

layer(EngineFromYaml, { excludeTestServices: true })("YAML template end to end", (it) => {
  it.effect("runs the linear workflow from YAML: 6 → 36 → 1296 → 1679616 → 2821109907456", () =>
    Effect.gen(function*() {
      const init = yield* TaskInitializer
      const queries = yield* TaskQueries
      const sql = yield* SqlClient.SqlClient
      const created = yield* init.createTask({
        namespace: "rust_e2e_linear",
        name: "mathematical_sequence",
        version: "1.0.0",
        context: { even_number: 6 }
      })
      assert.isTrue(created.created)
      assert.strictEqual(created.step_count, 4)
      const done = yield* queries.waitForCompletion(created.task_uuid, { timeout: "20 seconds" })
      assert.strictEqual(done.status, "complete")
      const steps = yield* queries.listSteps(created.task_uuid)
      const results = Object.fromEntries(steps.map((s) => [s.name, (s.results as { result: unknown }).result]))
      assert.deepStrictEqual(results, {
        linear_step_1: 36,
        linear_step_2: 1296,
        linear_step_3: 1_679_616,
        linear_step_4: 2_821_109_907_456
      })
      assert.deepStrictEqual(steps.map((s) => s.current_state), ["complete", "complete", "complete", "complete"])

      // the template's policies (with the `test` environment applied) reach the step rows
      const rows = yield* sql<{
        name: string
        system: string
        retryable: boolean
        max_attempts: number
        backoff: string
        backoff_base_ms: number
        max_backoff_ms: number
        timeout_seconds: number | null
        inputs: unknown
      }>`SELECT ns.name, ds.name AS system, ws.retryable, ws.max_attempts, ws.backoff, ws.backoff_base_ms,
                ws.max_backoff_ms, ws.timeout_seconds, ws.inputs
         FROM tasker_workflow_steps ws
         JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
         JOIN tasker_dependent_systems ds ON ds.dependent_system_uuid = ns.dependent_system_uuid
         WHERE ws.task_uuid = ${created.task_uuid}
         ORDER BY ns.name`
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [
        {
          name: "linear_step_1",
          system: "default",
          retryable: true,
          max_attempts: 2,
          backoff: "exponential",
          backoff_base_ms: 1000,
          max_backoff_ms: 30_000,
          timeout_seconds: 10,
          inputs: { operation: "square", step_number: 1 }
        },
        {
          name: "linear_step_2",
          system: "default",
          retryable: true,
          max_attempts: 2,
          backoff: "linear",
          backoff_base_ms: 500,
          max_backoff_ms: 5000,
          timeout_seconds: 10,
          inputs: { operation: "square", step_number: 2 }
        },
        {
          name: "linear_step_3",
          system: "math_engine",
          retryable: false,
          max_attempts: 2,
          backoff: "none",
          backoff_base_ms: 0,
          max_backoff_ms: 0,
          timeout_seconds: 10,
          inputs: { operation: "square", step_number: 3 }
        },
        {
          name: "linear_step_4",
          system: "default",
          retryable: true,
          max_attempts: 2,
          backoff: "none",
          backoff_base_ms: 200,
          max_backoff_ms: 10_000,
          timeout_seconds: 10,
          inputs: { operation: "square", step_number: 4, final_result: "input^16" }
        }
      ])
    }))

  it.effect("rejects a context that violates input_schema with InvalidTaskRequest", () =>
    Effect.gen(function*() {
      const init = yield* TaskInitializer
      const request = (context: Schema.Json) =>
        Effect.flip(init.createTask({ namespace: "rust_e2e_linear", name: "mathematical_sequence", version: "1.0.0", context }))

      const notInteger = yield* request({ even_number: "six" })
      assert.strictEqual(notInteger._tag, "InvalidTaskRequest")
      assert.strictEqual(notInteger._tag === "InvalidTaskRequest" && notInteger.field, "context.even_number")
      assert.strictEqual(notInteger.message, "context.even_number: Expected number, got \"six\"")

      const missing = yield* request({ odd_number: 3 })
      assert.strictEqual(missing._tag, "InvalidTaskRequest")
      assert.strictEqual(missing._tag === "InvalidTaskRequest" && missing.field, "context.even_number")

      const tooLarge = yield* request({ even_number: 102 })
      assert.strictEqual(tooLarge._tag, "InvalidTaskRequest")
      assert.include(tooLarge.message, "less than or equal to 100")
      assert.match(tooLarge.message, /^context\.even_number: .*, got 102$/)
    }))
})
