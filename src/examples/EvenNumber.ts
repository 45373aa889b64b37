/**
 * Shared pieces of the math example workflows (linear, diamond, tree, mixed DAG), ported from tasker-core's
 * `rust_e2e_*` examples with exact arithmetic: every value is a `bigint`, and every step stores its result as a
 * decimal string (`Schema.BigInt`, whose JSON form is a string), so n^64 stays exact where tasker-core's i64/f64
 * overflowed or lost digits.
 *
 * The task context is `{ even_number: n }` with n an even integer. The input schema rejects a missing, non-integer
 * or odd value at task creation (`context.even_number: Expected an even number, got 7`); its JSON Schema form
 * (`multipleOf: 2`) does too, in a process that reads the template from the database. The root step of each
 * workflow checks it again: a missing value fails permanently with `MISSING_CONTEXT_FIELD`, an odd or non-integer
 * one with `VALIDATION_ERROR`. A step whose parent's result is missing fails retryably with `MISSING_DEPENDENCY`
 * (`ctx.dependency` does that).
 */
import { Effect, Predicate, Schema } from "effect"
import type { StepContext } from "../workflow/StepContext.ts"
import { StepError } from "../workflow/StepError.ts"

/** An even integer (JSON Schema: `{"type": "integer", "multipleOf": 2}`). */
export const EvenNumber = Schema.Int.pipe(Schema.check(Schema.isMultipleOf(2, { expected: "an even number" })))

/** The input of every math workflow. */
export const EvenNumberInput = Schema.Struct({ even_number: EvenNumber })
export type EvenNumberInput = typeof EvenNumberInput.Type

/** A math step's result: a `bigint`, stored as a decimal string. */
export const MathResult = Schema.BigInt

/**
 * `context.even_number` as a `bigint`, checked: present, an integer, even. Takes the context as `unknown` so the
 * check does not rely on the input schema having run.
 */
export const requireEvenNumber = (context: unknown): Effect.Effect<bigint, StepError> => {
  const value = Predicate.isObject(context) ? (context as Record<string, unknown>)["even_number"] : undefined
  if (value === undefined || value === null) {
    return Effect.fail(
      StepError.permanent("task context must contain even_number", {
        code: "MISSING_CONTEXT_FIELD",
        errorType: "ValidationError",
        details: { field: "even_number" }
      })
    )
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    return Effect.fail(
      StepError.permanent(`even_number must be an integer, got ${JSON.stringify(value)}`, {
        code: "VALIDATION_ERROR",
        errorType: "ValidationError",
        details: { field: "even_number" }
      })
    )
  }
  if (value % 2 !== 0) {
    return Effect.fail(
      StepError.permanent(`even_number must be even, got ${value}`, {
        code: "VALIDATION_ERROR",
        errorType: "ValidationError",
        details: { field: "even_number", value }
      })
    )
  }
  return Effect.succeed(BigInt(value))
}

export const square = (x: bigint): bigint => x * x

/** The result of ancestor step `name` as a `bigint`. */
export const mathDependency = (ctx: StepContext<unknown>, name: string): Effect.Effect<bigint, StepError> =>
  ctx.dependency(name, MathResult)

/** The results of ancestor steps `names`, in order. */
export const mathDependencies = (
  ctx: StepContext<unknown>,
  names: ReadonlyArray<string>
): Effect.Effect<Array<bigint>, StepError> => Effect.forEach(names, (name) => mathDependency(ctx, name))

/** The product of `values` (1 for none). */
export const product = (values: ReadonlyArray<bigint>): bigint => values.reduce((acc, x) => acc * x, 1n)

/** A root step's handler: n². */
export const squareEvenNumber = (ctx: StepContext<unknown>): Effect.Effect<bigint, StepError> =>
  Effect.map(requireEvenNumber(ctx.context), square)

/** A handler that squares the product of its parents' results. */
export const squareProductOf = (names: ReadonlyArray<string>) => (ctx: StepContext<unknown>): Effect.Effect<bigint, StepError> =>
  Effect.map(mathDependencies(ctx, names), (values) => square(product(values)))
