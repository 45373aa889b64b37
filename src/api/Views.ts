/**
 * The API's views of engine rows: a task's execution context, a step with its readiness, a stored template; and the
 * pagination of the list endpoints.
 */
import { Option, Schema } from "effect"
import type { StepReadinessStatus, TaskExecutionContext } from "../db/SqlFunctions.ts"
import type { StepRow } from "../tasks/TaskQueries.ts"
import type { StoredTemplate } from "../workflow/TemplateRegistry.ts"
import { DEFAULT_PER_PAGE, type ExecutionView, type Pagination, type StepView, type TemplateSummary } from "./Models.ts"

export const executionView = (c: TaskExecutionContext): ExecutionView => ({
  status: c.status,
  total_steps: c.total_steps,
  pending_steps: c.pending_steps,
  in_progress_steps: c.in_progress_steps,
  enqueued_steps: c.enqueued_steps,
  completed_steps: c.completed_steps,
  failed_steps: c.failed_steps,
  ready_steps: c.ready_steps,
  waiting_for_retry_steps: c.waiting_for_retry_steps,
  blocked_steps: c.blocked_steps,
  execution_status: c.execution_status,
  recommended_action: c.recommended_action,
  completion_percentage: c.completion_percentage,
  health_status: c.health_status
})

export const stepView = (step: StepRow, readiness: StepReadinessStatus | undefined): StepView => ({
  step_uuid: step.step_uuid,
  task_uuid: step.task_uuid,
  name: step.name,
  current_state: step.current_state,
  attempts: step.attempts,
  max_attempts: step.max_attempts,
  retryable: step.retryable,
  results: step.results,
  inputs: step.inputs,
  dependencies_satisfied: readiness?.dependencies_satisfied ?? false,
  retry_eligible: readiness?.retry_eligible ?? false,
  ready_for_execution: readiness?.ready_for_execution ?? false,
  total_parents: readiness?.total_parents ?? 0,
  completed_parents: readiness?.completed_parents ?? 0,
  backoff_request_seconds: readiness?.backoff_request_seconds ?? null,
  last_failure_at: readiness?.last_failure_at ?? null,
  next_retry_at: readiness?.next_retry_at ?? null,
  last_attempted_at: step.last_attempted_at,
  completed_at: step.processed_at,
  created_at: step.created_at,
  updated_at: step.updated_at
})

const StepNames = Schema.Struct({ steps: Schema.Array(Schema.Struct({ name: Schema.String })) })
const decodeStepNames = Schema.decodeUnknownOption(StepNames)

export const templateSummary = (t: StoredTemplate): TemplateSummary => ({
  namespace: t.namespace,
  name: t.name,
  version: t.version,
  description: t.description,
  step_names: Option.match(decodeStepNames(t.configuration), {
    onNone: () => [],
    onSome: (c) => c.steps.map((s) => s.name)
  }),
  created_at: t.created_at,
  updated_at: t.updated_at
})


/** The page a list request asks for (`page` from 1, `per_page`; their defaults), with its row offset. */
export const requestedPage = (query: { readonly page?: number | undefined; readonly per_page?: number | undefined }) => {
  const page = query.page ?? 1
  const perPage = query.per_page ?? DEFAULT_PER_PAGE
  return { page, perPage, offset: (page - 1) * perPage }
}

/** A list's `pagination` for the page `requested` of `totalCount` items. */
export const paginationView = (
  requested: { readonly page: number; readonly perPage: number },
  totalCount: number
): Pagination => {
  const totalPages = Math.ceil(totalCount / requested.perPage)
  return {
    page: requested.page,
    per_page: requested.perPage,
    total_count: totalCount,
    total_pages: totalPages,
    has_next: requested.page < totalPages,
    has_previous: requested.page > 1
  }
}
