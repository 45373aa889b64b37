/**
 * The shipped example workflows, ported from tasker-core's examples: four math DAGs with exact (`bigint`)
 * arithmetic, an order fulfillment workflow and the error scenarios. Host them all with
 * `engineLayer({ templates: exampleTemplates })`.
 */
import type { WorkflowDefinition } from "../workflow/Workflow.ts"
import { DiamondWorkflow } from "./DiamondWorkflow.ts"
import {
  PermanentErrorOnlyWorkflow,
  RetryableErrorExhaustedWorkflow,
  RetryableErrorSuccessWorkflow,
  SuccessOnlyWorkflow
} from "./ErrorScenarioWorkflows.ts"
import { LinearWorkflow } from "./LinearWorkflow.ts"
import { MixedDagWorkflow } from "./MixedDagWorkflow.ts"
import { OrderFulfillmentWorkflow } from "./OrderFulfillmentWorkflow.ts"
import { TreeWorkflow } from "./TreeWorkflow.ts"

export { DiamondWorkflow } from "./DiamondWorkflow.ts"
export {
  PermanentErrorOnlyWorkflow,
  RetryableErrorExhaustedWorkflow,
  RetryableErrorSuccessWorkflow,
  SuccessOnlyWorkflow
} from "./ErrorScenarioWorkflows.ts"
export { LinearWorkflow } from "./LinearWorkflow.ts"
export { MixedDagWorkflow } from "./MixedDagWorkflow.ts"
export { OrderFulfillmentWorkflow } from "./OrderFulfillmentWorkflow.ts"
export { TreeWorkflow } from "./TreeWorkflow.ts"

/** Every example template. */
export const exampleTemplates: ReadonlyArray<WorkflowDefinition<never>> = [
  LinearWorkflow,
  DiamondWorkflow,
  TreeWorkflow,
  MixedDagWorkflow,
  OrderFulfillmentWorkflow,
  SuccessOnlyWorkflow,
  PermanentErrorOnlyWorkflow,
  RetryableErrorSuccessWorkflow,
  RetryableErrorExhaustedWorkflow
]
