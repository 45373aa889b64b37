/**
 * Test fixtures: task graphs written straight into the schema (registry rows, task, steps, edges and the
 * initial transitions), and helpers to put steps into given states with explicit timestamps.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { ProcessorUuid, StepUuid, TaskUuid } from "../../src/domain/Ids.ts"
import type { StepState } from "../../src/domain/StepStateMachine.ts"
import type { TaskState } from "../../src/domain/TaskStateMachine.ts"

export interface StepSpec {
  readonly name: string
  readonly dependsOn?: ReadonlyArray<string>
  readonly retryable?: boolean
  readonly maxAttempts?: number
  readonly backoff?: "none" | "linear" | "exponential" | "fibonacci"
  readonly backoffBaseMs?: number
  readonly maxBackoffMs?: number
}

export interface TaskSpec {
  readonly namespace?: string
  readonly name?: string
  readonly version?: string
  readonly steps: ReadonlyArray<StepSpec>
  readonly priority?: number
  /** seconds before now() the task was created (for priority aging) */
  readonly ageSeconds?: number
}

export interface CreatedTask {
  readonly taskUuid: TaskUuid
  readonly steps: Readonly<Record<string, StepUuid>>
}

/** Inserts a task graph in `pending`, with every step `pending`. */
export const createTask = (spec: TaskSpec) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const namespace = spec.namespace ?? "test"
    const name = spec.name ?? "graph"
    const version = spec.version ?? "1.0.0"
    return yield* sql.withTransaction(Effect.gen(function*() {
      const [ns] = yield* sql<{ task_namespace_uuid: string }>`
        INSERT INTO tasker_task_namespaces (name) VALUES (${namespace})
        ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING task_namespace_uuid`
      const [nt] = yield* sql<{ named_task_uuid: string }>`
        INSERT INTO tasker_named_tasks (task_namespace_uuid, name, version) VALUES (${ns!.task_namespace_uuid}, ${name}, ${version})
        ON CONFLICT (task_namespace_uuid, name, version) DO UPDATE SET updated_at = now() RETURNING named_task_uuid`
      const [system] = yield* sql<{ dependent_system_uuid: string }>`
        INSERT INTO tasker_dependent_systems (name) VALUES ('default')
        ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING dependent_system_uuid`
      const created = new Date(Date.now() - (spec.ageSeconds ?? 0) * 1000)
      const [task] = yield* sql<{ task_uuid: TaskUuid }>`
        INSERT INTO tasker_tasks (named_task_uuid, identity_hash, priority, correlation_id, created_at, requested_at)
        VALUES (${nt!.named_task_uuid}, ${randomUUID()}, ${spec.priority ?? 0}, ${randomUUID()}, ${created}, ${created})
        RETURNING task_uuid`
      const taskUuid = task!.task_uuid
      yield* sql`INSERT INTO tasker_task_transitions (task_uuid, to_state, from_state, sort_key)
                 VALUES (${taskUuid}, 'pending', NULL, 1)`
      const steps: Record<string, StepUuid> = {}
      for (const step of spec.steps) {
        const [named] = yield* sql<{ named_step_uuid: string }>`
          INSERT INTO tasker_named_steps (dependent_system_uuid, name) VALUES (${system!.dependent_system_uuid}, ${step.name})
          ON CONFLICT (dependent_system_uuid, name) DO UPDATE SET updated_at = now() RETURNING named_step_uuid`
        const [row] = yield* sql<{ workflow_step_uuid: StepUuid }>`
          INSERT INTO tasker_workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts, backoff, backoff_base_ms,
                                             max_backoff_ms, unfinished_parents)
          VALUES (${taskUuid}, ${named!.named_step_uuid}, ${step.retryable ?? true}, ${step.maxAttempts ?? 3},
                  ${step.backoff ?? "exponential"}, ${step.backoffBaseMs ?? 1000}, ${step.maxBackoffMs ?? 30000},
                  ${step.dependsOn?.length ?? 0})
          RETURNING workflow_step_uuid`
        steps[step.name] = row!.workflow_step_uuid
        yield* sql`INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, to_state, from_state, sort_key)
                   VALUES (${row!.workflow_step_uuid}, 'pending', NULL, 1)`
      }
      for (const step of spec.steps) {
        for (const parent of step.dependsOn ?? []) {
          yield* sql`INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid)
                     VALUES (${steps[parent]!}, ${steps[step.name]!})`
        }
      }
      return { taskUuid, steps } satisfies CreatedTask
    }))
  })

/** The shapes the engine's examples use. */
export const graphs = {
  linear: [
    { name: "step_1" },
    { name: "step_2", dependsOn: ["step_1"] },
    { name: "step_3", dependsOn: ["step_2"] },
    { name: "step_4", dependsOn: ["step_3"] }
  ],
  diamond: [
    { name: "start" },
    { name: "branch_b", dependsOn: ["start"] },
    { name: "branch_c", dependsOn: ["start"] },
    { name: "end", dependsOn: ["branch_b", "branch_c"] }
  ],
  tree: [
    { name: "root" },
    { name: "left", dependsOn: ["root"] },
    { name: "right", dependsOn: ["root"] },
    { name: "leaf_d", dependsOn: ["left"] },
    { name: "leaf_e", dependsOn: ["left"] },
    { name: "leaf_f", dependsOn: ["right"] },
    { name: "leaf_g", dependsOn: ["right"] },
    { name: "final", dependsOn: ["leaf_d", "leaf_e", "leaf_f", "leaf_g"] }
  ]
} satisfies Record<string, ReadonlyArray<StepSpec>>

/**
 * Forces a step into `state` (current_state, a transition row, and the given columns) without going through
 * the state machine: for setting up readiness scenarios with explicit timestamps. The counters the engine keeps
 * (the children's unfinished parents, the task's active steps) are recounted as the engine would have them.
 */
export const forceStepState = (
  stepUuid: StepUuid,
  state: StepState,
  columns: {
    readonly attempts?: number
    readonly lastAttemptedAt?: Date | null
    readonly backoffRequestSeconds?: number | null
    /** created_at of the transition row (the failure time for error / waiting_for_retry) */
    readonly at?: Date
  } = {}
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const at = columns.at ?? new Date()
    yield* sql`INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, to_state, sort_key, created_at)
               SELECT ${stepUuid}, ${state}, COALESCE(max(sort_key), 0) + 1, ${at}
               FROM tasker_workflow_step_transitions WHERE workflow_step_uuid = ${stepUuid}`
    yield* sql`UPDATE tasker_workflow_steps SET
                 current_state = ${state},
                 processed = ${state === "complete" || state === "resolved_manually" || state === "cancelled"},
                 in_process = ${state === "in_progress"},
                 attempts = COALESCE(${columns.attempts ?? null}::integer, attempts),
                 last_attempted_at = CASE WHEN ${columns.lastAttemptedAt !== undefined} THEN ${columns.lastAttemptedAt ?? null}::timestamptz ELSE last_attempted_at END,
                 backoff_request_seconds = CASE WHEN ${columns.backoffRequestSeconds !== undefined} THEN ${columns.backoffRequestSeconds ?? null}::double precision ELSE backoff_request_seconds END
               WHERE workflow_step_uuid = ${stepUuid}`
    yield* recountTask(stepUuid)
  })

/** The engine's counters of a step's task, recounted from its steps' states. */
const recountTask = (stepUuid: StepUuid) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ task_uuid: TaskUuid }>`
      SELECT task_uuid FROM tasker_workflow_steps WHERE workflow_step_uuid = ${stepUuid}`
    yield* sql`UPDATE tasker_workflow_steps c SET unfinished_parents = CASE WHEN c.current_state = 'pending' THEN
                 (SELECT count(*)::int FROM tasker_workflow_step_edges e
                  JOIN tasker_workflow_steps p ON p.workflow_step_uuid = e.from_step_uuid
                  WHERE e.to_step_uuid = c.workflow_step_uuid
                    AND p.current_state NOT IN ('complete', 'resolved_manually')) ELSE 0 END
               WHERE c.task_uuid = ${row!.task_uuid}`
    yield* sql`UPDATE tasker_tasks t SET active_steps = (
                 SELECT count(*)::int FROM tasker_workflow_steps ws WHERE ws.task_uuid = t.task_uuid
                   AND ws.current_state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration',
                                            'enqueued_as_error_for_orchestration'))
               WHERE t.task_uuid = ${row!.task_uuid}`
  })

/** Forces a task into `state` (for discovery tests), recording `processorUuid` on the transition. */
export const forceTaskState = (taskUuid: TaskUuid, state: TaskState, processorUuid: ProcessorUuid | null = null) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO tasker_task_transitions (task_uuid, to_state, sort_key, processor_uuid)
               SELECT ${taskUuid}, ${state}, COALESCE(max(sort_key), 0) + 1, ${processorUuid}::uuid
               FROM tasker_task_transitions WHERE task_uuid = ${taskUuid}`
    yield* sql`UPDATE tasker_tasks SET current_state = ${state} WHERE task_uuid = ${taskUuid}`
  })

export const secondsFromNow = (seconds: number): Date => new Date(Date.now() + seconds * 1000)
