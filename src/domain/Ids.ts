/**
 * Identifier schemas. Every id in the engine is a UUID (UUIDv7 where the engine generates it); the brands keep
 * task, step and processor ids from being mixed up at compile time.
 */
import { Schema } from "effect"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const TaskUuid = Uuid.pipe(Schema.brand("TaskUuid"))
export type TaskUuid = typeof TaskUuid.Type

export const StepUuid = Uuid.pipe(Schema.brand("StepUuid"))
export type StepUuid = typeof StepUuid.Type

export const NamedTaskUuid = Uuid.pipe(Schema.brand("NamedTaskUuid"))
export type NamedTaskUuid = typeof NamedTaskUuid.Type

export const NamedStepUuid = Uuid.pipe(Schema.brand("NamedStepUuid"))
export type NamedStepUuid = typeof NamedStepUuid.Type

/** The id of one engine process (orchestrator or worker), a UUIDv7 chosen at start-up. */
export const ProcessorUuid = Uuid.pipe(Schema.brand("ProcessorUuid"))
export type ProcessorUuid = typeof ProcessorUuid.Type
