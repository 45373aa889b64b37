/**
 * How the CLI prints an API error: one line naming the field once, and exit code 2 for a 4xx.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause } from "effect"
import { ApiBadRequest, ApiValidationError } from "../../src/api/Errors.ts"
import { EXIT_USAGE, outcomeOf } from "../../src/cli/Failure.ts"

describe("CLI failure lines", () => {
  it("a 422 whose message starts with its field names the field once, in one line", () => {
    const outcome = outcomeOf(Cause.fail(
      ApiValidationError.of("context.even_number: Expected an even number, got 7", "context.even_number")
    ))
    assert.strictEqual(outcome.code, EXIT_USAGE)
    assert.strictEqual(
      outcome.line,
      "the API answered 422 VALIDATION_ERROR (field context.even_number): Expected an even number, got 7"
    )
    const inBatch = outcomeOf(Cause.fail(ApiValidationError.of(
      "tasks.3.context.even_number: Expected an even number, got 7",
      "tasks.3.context.even_number"
    )))
    assert.strictEqual(
      inBatch.line,
      "the API answered 422 VALIDATION_ERROR (field tasks.3.context.even_number): Expected an even number, got 7"
    )
  })

  it("a message that does not start with its field is printed whole", () => {
    const outcome = outcomeOf(Cause.fail(ApiBadRequest.of("invalid body field priority: Expected number", "priority")))
    assert.strictEqual(outcome.line, "the API answered 400 BAD_REQUEST (field priority): invalid body field priority: Expected number")
  })
})
