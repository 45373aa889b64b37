/**
 * Typed errors of the data layer and the state machines. Database failures are not wrapped: they stay
 * `SqlError`s with their `reason` (`UniqueViolation`, `SerializationError`, …) so callers can classify them.
 */
import { Schema } from "effect"

/** The kinds of rows a lookup can miss. */
export const EntityKind = Schema.Literals(["task", "step", "named_task", "namespace"])
export type EntityKind = typeof EntityKind.Type

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  entity: EntityKind,
  id: Schema.String
}) {
  override get message(): string {
    return `${this.entity} not found: ${this.id}`
  }
}

/**
 * A state machine refused an event in the current state. `to` is where the event leads when it is allowed
 * somewhere (null for an event that leads nowhere from this state).
 */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()("InvalidTransition", {
  machine: Schema.Literals(["task", "step"]),
  from: Schema.String,
  to: Schema.NullOr(Schema.String),
  event: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.machine} transition: event ${this.event} is not allowed in state ${this.from}` +
      (this.to === null ? "" : ` (it leads to ${this.to})`)
  }
}

/** A compare-and-set transition lost: the row was no longer in the expected state (another writer won). */
export class StaleState extends Schema.TaggedError<StaleState>()("StaleState", {
  entity: Schema.Literals(["task", "step"]),
  id: Schema.String,
  expected: Schema.NullOr(Schema.String),
  actual: Schema.String
}) {
  override get message(): string {
    return `${this.entity} ${this.id} is in state ${this.actual}, expected ${this.expected ?? "(no state)"}`
  }
}

/** The task is in an owned state held by another live processor. */
export class OwnershipConflict extends Schema.TaggedError<OwnershipConflict>()("OwnershipConflict", {
  taskUuid: Schema.String,
  state: Schema.String,
  ownerProcessorUuid: Schema.String
}) {
  override get message(): string {
    return `task ${this.taskUuid} in state ${this.state} is owned by live processor ${this.ownerProcessorUuid}`
  }
}
