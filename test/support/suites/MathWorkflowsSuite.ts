/**
 * The four math example workflows end to end, one suite run against each database (test/examples/MathWorkflows.test.ts
 * on PostgreSQL, test/embedded/Examples.test.ts on PGlite): exact results for every step (checked against BigInt
 * powers computed here), the rejection of odd, non-integer and missing inputs at creation, and transitions the state
 * machines allow.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TaskInitializer } from "../../../src/tasks/TaskInitializer.ts"
import { auditTransitions } from "../Audit.ts"
import type { DatabaseUnderTest } from "../Databases.ts"
import { examplesLayer, type FinishedTask, resultOf, runTask, stepOf } from "../Harness.ts"

interface MathExample {
  readonly namespace: string
  readonly name: string
  readonly root: string
  /** each step's result is n^exponent */
  readonly exponents: Readonly<Record<string, bigint>>
}

const linear: MathExample = {
  namespace: "rust_e2e_linear",
  name: "mathematical_sequence",
  root: "linear_step_1",
  exponents: { linear_step_1: 2n, linear_step_2: 4n, linear_step_3: 8n, linear_step_4: 16n }
}
const diamond: MathExample = {
  namespace: "rust_e2e_diamond",
  name: "diamond_pattern",
  root: "diamond_start",
  exponents: { diamond_start: 2n, diamond_branch_b: 4n, diamond_branch_c: 4n, diamond_end: 16n }
}
const tree: MathExample = {
  namespace: "rust_e2e_tree",
  name: "hierarchical_tree",
  root: "tree_root",
  exponents: {
    tree_root: 2n,
    tree_branch_left: 4n,
    tree_branch_right: 4n,
    tree_leaf_d: 8n,
    tree_leaf_e: 8n,
    tree_leaf_f: 8n,
    tree_leaf_g: 8n,
    tree_final_convergence: 64n
  }
}
const mixedDag: MathExample = {
  namespace: "rust_e2e_mixed_dag",
  name: "complex_dag",
  root: "dag_init",
  exponents: {
    dag_init: 2n,
    dag_process_left: 4n,
    dag_process_right: 4n,
    dag_validate: 16n,
    dag_transform: 8n,
    dag_analyze: 8n,
    dag_finalize: 64n
  }
}
const examples = [linear, diamond, tree, mixedDag]

const run = (example: MathExample, context: Schema.Json) => runTask(example.namespace, example.name, context)

/** Every step complete after one attempt, with result n^exponent as a decimal string. */
const assertExact = (example: MathExample, n: bigint, task: FinishedTask) => {
  assert.strictEqual(task.status, "complete", `${example.name} n=${n}`)
  assert.deepStrictEqual([...task.steps.keys()].sort(), Object.keys(example.exponents).sort())
  for (const [name, exponent] of Object.entries(example.exponents)) {
    const step = stepOf(task, name)
    assert.strictEqual(step.current_state, "complete", name)
    assert.strictEqual(step.attempts, 1, name)
    assert.strictEqual(resultOf(step), (n ** exponent).toString(), `${example.name}.${name} n=${n}`)
  }
}

const finalResult = (task: FinishedTask, name: string) => resultOf(stepOf(task, name))

export const mathWorkflowsSuite = (db: DatabaseUnderTest) => {
  layer(examplesLayer(db), { excludeTestServices: true })(`math example workflows on ${db.name}`, (it) => {
    it.effect("compute exact results for n = 6 and another even number", () =>
      Effect.gen(function*() {
        const cases = [
          { example: linear, n: 6n },
          { example: linear, n: 8n },
          { example: diamond, n: 6n },
          { example: diamond, n: 10n },
          { example: tree, n: 6n },
          { example: tree, n: 4n },
          { example: mixedDag, n: 6n },
          { example: mixedDag, n: 2n },
          { example: mixedDag, n: -4n }
        ]
        const tasks = yield* Effect.forEach(
          cases,
          ({ example, n }) => run(example, { even_number: Number(n) }),
          { concurrency: "unbounded" }
        )
        cases.forEach(({ example, n }, i) => assertExact(example, n, tasks[i]!))

        // the documented values, independent of the BigInt powers above
        const [linear6, linear8, diamond6, , tree6, tree4, , mixed2] = tasks
        assert.deepStrictEqual(
          ["linear_step_1", "linear_step_2", "linear_step_3", "linear_step_4"].map((s) => finalResult(linear6!, s)),
          ["36", "1296", "1679616", "2821109907456"]
        )
        assert.strictEqual(finalResult(linear8!, "linear_step_4"), "281474976710656")
        assert.deepStrictEqual(
          ["diamond_start", "diamond_branch_b", "diamond_branch_c", "diamond_end"].map((s) => finalResult(diamond6!, s)),
          ["36", "1296", "1296", "2821109907456"]
        )
        assert.strictEqual(tree6!.steps.size, 8)
        assert.deepStrictEqual(
          ["tree_root", "tree_branch_left", "tree_leaf_g"].map((s) => finalResult(tree6!, s)),
          ["36", "1296", "1679616"]
        )
        assert.strictEqual(
          finalResult(tree6!, "tree_final_convergence"),
          "63340286662973277706162286946811886609896461828096"
        )
        assert.strictEqual(finalResult(tree4!, "tree_final_convergence"), "340282366920938463463374607431768211456")
        assert.strictEqual(finalResult(mixed2!, "dag_finalize"), "18446744073709551616")
      }))

    it.effect("a missing, non-integer or odd even_number is rejected at task creation, naming the field", () =>
      Effect.gen(function*() {
        const init = yield* TaskInitializer
        for (const example of examples) {
          for (const context of [{}, { even_number: 2.5 }, { even_number: "6" }, { even_number: null }, { even_number: 7 }]) {
            const error = yield* Effect.flip(
              init.createTask({ namespace: example.namespace, name: example.name, version: "1.0.0", context })
            )
            assert.strictEqual(error._tag, "InvalidTaskRequest", `${example.name} ${JSON.stringify(context)}`)
            if (error._tag === "InvalidTaskRequest") assert.strictEqual(error.field, "context.even_number")
          }
          const odd = yield* Effect.flip(
            init.createTask({ namespace: example.namespace, name: example.name, version: "1.0.0", context: { even_number: -3 } })
          )
          assert.strictEqual(odd.message, "context.even_number: Expected an even number, got -3", example.name)
        }
      }))

    it.effect("every recorded transition is one the state machines allow", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* auditTransitions, [])
      }))
  })
}
