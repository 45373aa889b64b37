/**
 * Diamond workflow (tasker-core's `rust_e2e_diamond/diamond_pattern`): one root fans out to two parallel
 * branches that converge again.
 *
 * ```text
 *              ┌→ diamond_branch_b ┐
 * diamond_start┤                   ├→ diamond_end
 *              └→ diamond_branch_c ┘
 * ```
 *
 * start = n², each branch = start² = n⁴, end = (b·c)² = n^16 (n = 6: 2821109907456). Input `{ even_number: n }`;
 * results are decimal strings.
 */
import { Workflow } from "../workflow/Workflow.ts"
import { EvenNumberInput, MathResult, squareEvenNumber, squareProductOf } from "./EvenNumber.ts"

export const DiamondWorkflow = Workflow.make({
  namespace: "rust_e2e_diamond",
  name: "diamond_pattern",
  version: "1.0.0",
  description: "A root, two parallel branches and a convergence step (n^16 at the end)",
  input: EvenNumberInput
})
  .step("diamond_start", {
    description: "Square the even number: n^2",
    output: MathResult,
    run: squareEvenNumber
  })
  .step("diamond_branch_b", {
    description: "Square the start: n^4",
    dependsOn: ["diamond_start"],
    output: MathResult,
    run: squareProductOf(["diamond_start"])
  })
  .step("diamond_branch_c", {
    description: "Square the start: n^4",
    dependsOn: ["diamond_start"],
    output: MathResult,
    run: squareProductOf(["diamond_start"])
  })
  .step("diamond_end", {
    description: "Square the product of both branches: (b·c)^2 = n^16",
    dependsOn: ["diamond_branch_b", "diamond_branch_c"],
    output: MathResult,
    run: squareProductOf(["diamond_branch_b", "diamond_branch_c"])
  })
