/**
 * The names the engine's processes meet under: queues (PostgreSQL tables of messages) and the notification
 * channel whose payloads wake their consumers and the waiters of tasks.
 *
 * - `orchestration_step_results_queue`: step results, workers → orchestrators;
 * - `worker_<namespace>_queue`: step messages of one namespace, orchestrators → workers;
 * - channel `tasker_queue`: payload `<queue>` or `<queue> <origin processor>` (a message was sent),
 *   `task:<uuid>:<state>` (a task reached a state its waiters care about), or `tasker_task_readiness`
 *   (a task may have become ready: operator actions).
 */

/** Step results, workers → orchestrators. */
export const RESULTS_QUEUE = "orchestration_step_results_queue"

/** The queue a namespace's step messages go to. */
export const workerQueueName = (namespace: string): string => `worker_${namespace}_queue`

/** The one notification channel: queue wake-ups, task events and the readiness signal. */
export const NOTIFY_CHANNEL = "tasker_queue"

/** Wake-up name (not a queue) for "a task may have become ready": sent after operator actions. */
export const READINESS_SIGNAL = "tasker_task_readiness"
