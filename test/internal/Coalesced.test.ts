/**
 * Coalesced reads (`src/internal/Coalesced.ts`, used by `waitForCompletion`'s reads of its task): one caller alone
 * goes out at once; the keys asked for while a read is in flight go together in the next read, each once; a key the
 * read did not find is `None`; a failed read fails every caller of its batch, and the reader keeps serving.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option } from "effect"
import { coalesced } from "../../src/internal/Coalesced.ts"

/** Lets the other fibers run until `check` holds (at most 100 turns). */
const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && !check(); i++) yield* Effect.yieldNow
    assert.isTrue(check())
  })

describe("coalesced reads", () => {
  it.effect("the keys asked for during a read go together in the next one", () =>
    Effect.gen(function*() {
      const reads: Array<ReadonlyArray<string>> = []
      const gates: Array<Deferred.Deferred<void>> = []
      const read = yield* coalesced({
        maxBatch: 3,
        read: (keys) =>
          Effect.gen(function*() {
            reads.push(keys)
            const gate = yield* Deferred.make<void>()
            gates.push(gate)
            yield* Deferred.await(gate)
            return new Map(keys.filter((k) => k !== "missing").map((k) => [k, `value of ${k}`]))
          })
      })
      const first = yield* Effect.forkChild(read("a"))
      yield* until(() => reads.length === 1)
      assert.deepStrictEqual(reads, [["a"]])
      // while "a" is read: b twice, c, missing, d (one more than a batch)
      const others = yield* Effect.forkChild(
        Effect.all(["b", "b", "c", "missing", "d"].map(read), { concurrency: "unbounded" })
      )
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      assert.strictEqual(reads.length, 1)
      yield* Deferred.succeed(gates[0]!, undefined)
      assert.deepStrictEqual(yield* Fiber.join(first), Option.some("value of a"))
      yield* until(() => reads.length === 2)
      assert.deepStrictEqual(reads, [["a"], ["b", "c", "missing"]])
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* until(() => reads.length === 3)
      assert.deepStrictEqual(reads, [["a"], ["b", "c", "missing"], ["d"]])
      yield* Deferred.succeed(gates[2]!, undefined)
      assert.deepStrictEqual(yield* Fiber.join(others), [
        Option.some("value of b"),
        Option.some("value of b"),
        Option.some("value of c"),
        Option.none(),
        Option.some("value of d")
      ])
    }))

  it.effect("a failed read fails its callers; the next read is served", () =>
    Effect.gen(function*() {
      let calls = 0
      const read = yield* coalesced({
        maxBatch: 10,
        read: (keys) => {
          calls++
          return calls === 1 ? Effect.fail("database gone") : Effect.succeed(new Map(keys.map((k) => [k, k.length])))
        }
      })
      assert.deepStrictEqual(yield* Effect.flip(read("abc")), "database gone")
      assert.deepStrictEqual(yield* read("abcd"), Option.some(4))
      assert.strictEqual(calls, 2)
    }))
})
