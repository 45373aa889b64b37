/**
 * The engine as one Layer: orchestration (result processing, readiness, give-up), a worker hosting the given
 * templates, and the services an application uses (`TaskInitializer` to submit tasks, `TaskQueries` to read and
 * wait for them, `TaskOperations` for operator actions). It runs on a database layer (`layers/postgres.ts`).
 *
 * ```ts
 * const Engine = engineLayer({ templates: [Greeting] }).pipe(
 *   Layer.provideMerge(postgresLayer({ url: process.env.DATABASE_URL! }))
 * )
 * const program = Effect.gen(function*() {
 *   const tasks = yield* TaskInitializer
 *   const { task_uuid } = yield* tasks.createTask({ namespace: "demo", name: "greeting", version: "1.0.0",
 *                                                  context: { name: "Ada" } })
 *   const done = yield* (yield* TaskQueries).waitForCompletion(task_uuid)
 * })
 * ```
 */
import { Effect, Layer } from "effect"
import { CurrentProcessor, TemplateHosting } from "../src/db/Processors.ts"
import { LocalHandoff } from "../src/messaging/LocalHandoff.ts"
import { MessageQueue } from "../src/messaging/MessageQueue.ts"
import { Wakeups } from "../src/messaging/Wakeups.ts"
import { defaultEngineSettings, EngineConfig, type EngineSettings } from "../src/config/EngineConfig.ts"
import { EngineFunctions } from "../src/db/EngineFunctions.ts"
import { OrchestrationLoopLayer } from "../src/orchestration/OrchestrationLoop.ts"
import { ResultProcessor } from "../src/orchestration/ResultProcessor.ts"
import { TaskEvaluator } from "../src/orchestration/TaskEvaluator.ts"
import { TaskInitializer } from "../src/tasks/TaskInitializer.ts"
import { TaskListing } from "../src/tasks/TaskListing.ts"
import { TaskOperations } from "../src/tasks/TaskOperations.ts"
import { TaskQueries } from "../src/tasks/TaskQueries.ts"
import { MetricsSamplerLayer } from "../src/telemetry/Sampler.ts"
import { SeriesJanitorLayer } from "../src/telemetry/SeriesJanitor.ts"
import { WorkerLayer } from "../src/worker/Worker.ts"
import { createStoredTemplateSeries, TemplateRegistry } from "../src/workflow/TemplateRegistry.ts"
import type { WorkflowDefinition } from "../src/workflow/Workflow.ts"

export interface EngineOptions<R> {
  /** templates whose steps this process runs (a worker is started when there are any) */
  readonly templates?: ReadonlyArray<WorkflowDefinition<R>>
  /** run the orchestration loops in this process (default true) */
  readonly orchestrator?: boolean
  /** run a worker for `templates` (default: when there are templates) */
  readonly worker?: boolean
  /** overrides of the default settings */
  readonly settings?: Partial<EngineSettings>
  /** the role recorded for this process in `tasker_processors` */
  readonly role?: string
}

/** Registers templates (without requiring handlers) when the layer is built. */
const registerTemplates = <R>(templates: ReadonlyArray<WorkflowDefinition<R>>) =>
  Layer.effectDiscard(Effect.forEach(templates, (t) => Effect.flatMap(TemplateRegistry, (r) => r.register(t)), {
    discard: true
  }))

/**
 * The engine's services and (optionally) its loops. Needs a database layer (`postgresLayer` or `embeddedLayer`:
 * SqlClient, NotificationSource and the data services) and whatever the templates' handlers need (`R`).
 */
export const engineLayer = <R = never>(options: EngineOptions<R> = {}) => {
  const settings: EngineSettings = { ...defaultEngineSettings, ...options.settings }
  const templates = options.templates ?? []
  const runOrchestrator = options.orchestrator ?? true
  const runWorker = options.worker ?? templates.length > 0

  const base = Layer.mergeAll(
    EngineFunctions.layer,
    TemplateRegistry.layer,
    MessageQueue.layerPostgres,
    TemplateHosting.layer,
    LocalHandoff.layer,
    Wakeups.layer({ mode: settings.deploymentMode, pollInterval: settings.pollIntervalMs })
  ).pipe(
    Layer.provideMerge(CurrentProcessor.layer({
      role: options.role ?? (runOrchestrator ? (runWorker ? "orchestrator+worker" : "orchestrator") : runWorker ? "worker" : "client"),
      heartbeatInterval: settings.heartbeatIntervalMs
    }))
  )
  const services = Layer.mergeAll(
    TaskInitializer.layer,
    ResultProcessor.layer,
    TaskEvaluator.layer,
    TaskOperations.layer,
    TaskQueries.layer,
    TaskListing.layer
  ).pipe(Layer.provideMerge(base))

  const loops = Layer.mergeAll(
    runOrchestrator ? OrchestrationLoopLayer : Layer.empty,
    runOrchestrator ? MetricsSamplerLayer(settings.metricsSampleIntervalMs) : Layer.empty,
    SeriesJanitorLayer(settings.metricsSweepIntervalMs),
    // counters of the stored templates at 0 from the start (InitialSeries.ts); registered ones get theirs on register
    Layer.effectDiscard(createStoredTemplateSeries),
    // a worker registers the templates it hosts; without one, they are still registered so tasks can be created
    runWorker ? WorkerLayer<R>({ templates }) : registerTemplates(templates)
  )
  return loops.pipe(
    Layer.provideMerge(services),
    Layer.provideMerge(Layer.succeed(EngineConfig, settings))
  )
}
