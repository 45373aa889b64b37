/**
 * The shapes of the dashboard's query rows that the API answers as they are (`src/api/DashboardModels.ts` uses
 * them): the overview's parts and a task's DAG. Pure schemas, so the API definition (and the browser's client,
 * which shares it) can use them without the queries.
 */
import { Schema } from "effect"
import { StepUuid } from "../domain/Ids.ts"
import { StepState } from "../domain/StepStateMachine.ts"

/** Tasks created, completed and failed (`error`) in one minute (`minute`: its start). */
export const MinuteCounts = Schema.Struct({
  minute: Schema.Date,
  created: Schema.Int,
  completed: Schema.Int,
  failed: Schema.Int
})

/** Step executions that finished in the last hour and their durations (claim to result). */
export const StepStats = Schema.Struct({
  completed_last_hour: Schema.Int,
  failed_last_hour: Schema.Int,
  /** median duration of the attempts that finished in the last hour (ms), null without any */
  p50_ms: Schema.NullOr(Schema.Number),
  p95_ms: Schema.NullOr(Schema.Number)
})

/** One queue: messages in it, the oldest one's age, and its dead letters. */
export const QueueStats = Schema.Struct({
  queue: Schema.String,
  depth: Schema.Int,
  oldest_age_seconds: Schema.NullOr(Schema.Number),
  dead_letters: Schema.Int
})

/** A live (not stopped) engine process. */
export const ProcessorStats = Schema.Struct({
  processor_uuid: Schema.String,
  /** `orchestrator`, `worker`, … as the process registered itself */
  role: Schema.String,
  hostname: Schema.NullOr(Schema.String),
  heartbeat_age_seconds: Schema.Number,
  /** steps in progress whose latest claim this processor made */
  running_steps: Schema.Int
})

/** A step of a task's DAG: the fields its row and the API's view share. */
export const dagStepFields = {
  step_uuid: StepUuid,
  name: Schema.String,
  state: StepState,
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  /** the first claim (first transition to in_progress) */
  started_at: Schema.NullOr(Schema.Date),
  /** when the step reached complete, error, cancelled or resolved_manually */
  finished_at: Schema.NullOr(Schema.Date)
}

/** `from` must finish before `to` runs. */
export const DagEdge = Schema.Struct({ from: StepUuid, to: StepUuid })
