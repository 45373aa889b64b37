/**
 * How the CLI prints an API error: one line naming the field once, and exit code 2 for a 4xx.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause } from "effect"
import { ApiBadRequest, ApiValidationError } from "../../src/api/Errors.ts"
import { EXIT_USAGE, outcomeOf, redactSecrets, registerSecret } from "../../src/cli/Failure.ts"

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

describe("secret redaction", () => {
  it("a short password is removed from URLs, not masked inside every word (which would spell it out)", () => {
    registerSecret("postgres://app:p@db.internal:5432/tasker")
    assert.strictEqual(
      redactSecrets("cannot connect to postgres://app:p@db.internal:5432/tasker: password authentication failed for pool"),
      "cannot connect to postgres://app:***@db.internal:5432/tasker: password authentication failed for pool"
    )
    // another URL with a password the CLI never read is redacted too
    assert.strictEqual(redactSecrets("see http://u:hunter2@example.test/x"), "see http://u:***@example.test/x")
  })

  it("a long secret is masked wherever it appears", () => {
    registerSecret("postgres://app:long-Secret-42@db.internal/tasker")
    assert.strictEqual(redactSecrets("the password long-Secret-42 was refused"), "the password *** was refused")
  })
})
