/**
 * Linear workflow (tasker-core's `rust_e2e_linear/mathematical_sequence`):
 *
 * ```text
 * linear_step_1 → linear_step_2 → linear_step_3 → linear_step_4
 * ```
 *
 * Step 1 squares the input (n²); each next step squares its parent's result, so step 4 yields n^16
 * (n = 6: 36, 1296, 1679616, 2821109907456). Input `{ even_number: n }`; results are decimal strings.
 */
import { Workflow } from "../workflow/Workflow.ts"
import { EvenNumberInput, MathResult, squareEvenNumber, squareProductOf } from "./EvenNumber.ts"

export const LinearWorkflow = Workflow.make({
  namespace: "rust_e2e_linear",
  name: "mathematical_sequence",
  version: "1.0.0",
  description: "Four steps in a chain; each squares its parent's result (n^16 at the end)",
  input: EvenNumberInput
})
  .step("linear_step_1", {
    description: "Square the even number: n^2",
    output: MathResult,
    run: squareEvenNumber
  })
  .step("linear_step_2", {
    description: "Square step 1: n^4",
    dependsOn: ["linear_step_1"],
    output: MathResult,
    run: squareProductOf(["linear_step_1"])
  })
  .step("linear_step_3", {
    description: "Square step 2: n^8",
    dependsOn: ["linear_step_2"],
    output: MathResult,
    run: squareProductOf(["linear_step_2"])
  })
  .step("linear_step_4", {
    description: "Square step 3: n^16",
    dependsOn: ["linear_step_3"],
    output: MathResult,
    run: squareProductOf(["linear_step_3"])
  })
