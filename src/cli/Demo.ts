/**
 * What `tasker demo` runs (loaded by `DemoCommand.ts`): starts an engine in this process (embedded database
 * unless `DATABASE_URL` is set), runs example workflows one after the other, waits for each and prints its results
 * and timing.
 *
 * With `--json`, stdout carries exactly one JSON object per task, one per line:
 * `{namespace, name, task_uuid, correlation_id, status, result, elapsed_ms}`, where `result` is the result of the
 * workflow's final step (the convergence step of the diamond, tree and mixed DAG, `ship_order` for the order);
 * logs go to stderr. Every run creates new tasks (a fresh idempotency key per task). The command fails (exit 1)
 * when a task does not complete.
 */
import { Console, Effect, Layer, Predicate, type Schema } from "effect"
import { engineLayer } from "../../layers/engine.ts"
import { DiamondWorkflow } from "../examples/DiamondWorkflow.ts"
import { sampleOrder } from "../examples/ExampleTasks.ts"
import { exampleTemplates } from "../examples/index.ts"
import { LinearWorkflow } from "../examples/LinearWorkflow.ts"
import { MixedDagWorkflow } from "../examples/MixedDagWorkflow.ts"
import { OrderFulfillmentWorkflow } from "../examples/OrderFulfillmentWorkflow.ts"
import { TreeWorkflow } from "../examples/TreeWorkflow.ts"
import { engineConfigFromEnv } from "../config/EngineConfig.ts"
import { TaskInitializer } from "../tasks/TaskInitializer.ts"
import { type StepRow, TaskQueries } from "../tasks/TaskQueries.ts"
import type { WorkflowDefinition } from "../workflow/Workflow.ts"
import { DEMO_NAMES, type DemoFlags, type DemoName } from "./DemoCommand.ts"
import { CommandFailed } from "./Failure.ts"
import { engineOverrides } from "./Flags.ts"
import { printJson } from "./Output.ts"
import { databaseLayer } from "../../layers/database.ts"
import { databaseChoice, withSettings } from "./Settings.ts"

interface Demo {
  readonly workflow: WorkflowDefinition<never>
  readonly context: (n: number) => Schema.Json
}

const math = (workflow: WorkflowDefinition<never>): Demo => ({ workflow, context: (n) => ({ even_number: n }) })

/** The demos by `--workflow` name. */
export const demos: Record<DemoName, Demo> = {
  linear: math(LinearWorkflow),
  diamond: math(DiamondWorkflow),
  tree: math(TreeWorkflow),
  mixed_dag: math(MixedDagWorkflow),
  order_fulfillment: { workflow: OrderFulfillmentWorkflow, context: () => sampleOrder }
}

/** The step no other step depends on (the last one, if several). */
export const finalStepOf = (workflow: WorkflowDefinition<never>): string => {
  const parents = new Set(workflow.steps.flatMap((s) => s.dependsOn))
  const sinks = workflow.steps.filter((s) => !parents.has(s.name))
  return (sinks[sinks.length - 1] ?? workflow.steps[workflow.steps.length - 1]!).name
}

/** A step's result: `results.result` of the stored envelope. */
const resultOf = (step: StepRow | undefined): unknown =>
  Predicate.hasProperty(step?.results, "result") ? step.results.result ?? null : null

/** One demo's outcome, as printed with `--json`. */
export interface DemoResult {
  readonly namespace: string
  readonly name: string
  readonly task_uuid: string
  readonly correlation_id: string
  readonly status: string
  readonly result: unknown
  readonly elapsed_ms: number
}

const short = (value: unknown, max = 100): string => {
  const text = JSON.stringify(value) ?? "null"
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

const runDemo = Effect.fn("tasker.demo.run")(function*(label: DemoName, n: number, timeoutSeconds: number, json: boolean) {
  const { context, workflow } = demos[label]
  const tasks = yield* TaskInitializer
  const queries = yield* TaskQueries
  const started = performance.now()
  const created = yield* tasks.createTask({
    namespace: workflow.namespace,
    name: workflow.name,
    version: workflow.version,
    context: context(n),
    initiator: "tasker demo",
    // identical contexts would otherwise find the task of an earlier run
    idempotency_key: crypto.randomUUID()
  })
  const task = yield* queries.waitForCompletion(created.task_uuid, { timeout: `${timeoutSeconds} seconds` })
  const elapsed = Math.round((performance.now() - started) * 10) / 10
  const steps = yield* queries.listSteps(created.task_uuid)
  const finalStep = finalStepOf(workflow)
  const outcome: DemoResult = {
    namespace: workflow.namespace,
    name: workflow.name,
    task_uuid: task.task_uuid,
    correlation_id: task.correlation_id,
    status: task.status,
    result: resultOf(steps.find((s) => s.name === finalStep)),
    elapsed_ms: elapsed
  }
  if (json) {
    yield* printJson(outcome, false)
  } else {
    yield* Console.log(
      `${label}: ${workflow.namespace}/${workflow.name} ${task.status} in ${elapsed.toFixed(1)} ms (task ${task.task_uuid})`
    )
    for (const step of steps) {
      yield* Console.log(`  ${step.name.padEnd(24)} ${step.current_state.padEnd(10)} ${short(resultOf(step))}`)
    }
    yield* Console.log(`  result (${finalStep}): ${JSON.stringify(outcome.result)}`)
  }
  return outcome
})

/** `tasker demo`. */
export const demo = (flags: DemoFlags) => {
  const names: ReadonlyArray<DemoName> = flags.workflow === "all" ? DEMO_NAMES : [flags.workflow]
  return Effect.gen(function*() {
    const choice = yield* databaseChoice
    yield* Effect.logInfo(choice.description)
    const settings = yield* engineConfigFromEnv
    const engine = engineLayer({ templates: exampleTemplates, settings }).pipe(
      Layer.provideMerge(databaseLayer(choice))
    )
    const results = yield* Effect.forEach(names, (name) => runDemo(name, flags.n, flags.timeout, flags.json)).pipe(
      Effect.provide(engine)
    )
    const failed = results.filter((r) => r.status !== "complete")
    if (failed.length > 0) {
      return yield* new CommandFailed({
        message: `${failed.length} of ${results.length} tasks did not complete: ${
          failed.map((r) => `${r.namespace}/${r.name} ${r.status}`).join(", ")
        }`
      })
    }
  }).pipe(Effect.withSpan("tasker.demo"), withSettings(engineOverrides(flags)))
}
