/**
 * `tasker-effect`: what an application needs to define workflows, run the engine and submit tasks.
 *
 * ```ts
 * import { engineLayer, TaskInitializer, TaskQueries, Workflow } from "tasker-effect"
 * import { postgresLayerFromEnv } from "tasker-effect/postgres"   // or embeddedLayer from "tasker-effect/embedded"
 * ```
 *
 * The database layers, telemetry, the HTTP server and the HTTP client have their own import paths
 * (docs/package.md), so an application loads only what it uses.
 */

// workflows and handlers
export {
  type BackoffKind,
  defaultRetryPolicy,
  fromPromise,
  handler,
  type IdentityStrategy,
  InvalidTemplate,
  type RetryPolicy,
  type StepDefinition,
  type StepHandler,
  type StepOptions,
  templateKey,
  validateWorkflow,
  Workflow,
  type WorkflowDefinition
} from "../src/workflow/Workflow.ts"
export type { StepContext } from "../src/workflow/StepContext.ts"
export { StepError } from "../src/workflow/StepError.ts"
export {
  bindHandlers,
  InvalidTemplateFile,
  loadTemplateDirectory,
  loadTemplateFile,
  parseTemplateYaml
} from "../src/workflow/YamlTemplates.ts"
export { InvalidStoredTemplate, TemplateNotFound, TemplateRegistry } from "../src/workflow/TemplateRegistry.ts"

// the engine
export { type EngineOptions, engineLayer } from "../layers/engine.ts"
export {
  defaultEngineSettings,
  type DeploymentMode,
  EngineConfig,
  engineConfigFromEnv,
  type EngineSettings
} from "../src/config/EngineConfig.ts"
export { type DatabaseChoice, type DataLayer, databaseLayerFromEnv } from "../layers/database.ts"

// tasks: create, read, wait, list, operate
export { InvalidTaskRequest, type TaskCreated, TaskInitializer, TaskRequest } from "../src/tasks/TaskInitializer.ts"
export { type StepRow, type TaskRow, type TaskWithContext, TaskQueries, WaitTimeout } from "../src/tasks/TaskQueries.ts"
export { type TaskListFilter, TaskListing, type TaskPage } from "../src/tasks/TaskListing.ts"
export { type StepResolution, TaskOperations } from "../src/tasks/TaskOperations.ts"
export { MAX_BATCH_SIZE, type TaskRecord } from "../src/domain/TaskRecord.ts"
export type { StepUuid, TaskUuid } from "../src/domain/Ids.ts"
export { InvalidTransition, NotFound, OwnershipConflict, StaleState } from "../src/domain/Errors.ts"

// correlation: the ID every span, log line and metric of a task carries
export { type CorrelationIds, CurrentCorrelation, withCorrelation } from "../src/telemetry/Correlation.ts"
