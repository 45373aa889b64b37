/**
 * Mixed DAG workflow (tasker-core's `rust_e2e_mixed_dag/complex_dag`): fan-out, a convergence of two parents,
 * two single-parent chains and a final three-way convergence.
 *
 * ```text
 * dag_init                                  → dag_process_left, dag_process_right
 * dag_process_left                          → dag_validate, dag_transform
 * dag_process_right                         → dag_validate, dag_analyze
 * dag_validate, dag_transform, dag_analyze  → dag_finalize
 * ```
 *
 * init = n², left = right = init² = n⁴, validate = (left·right)² = n^16, transform = left² = n⁸,
 * analyze = right² = n⁸, finalize = (validate·transform·analyze)² = (n^32)² = n^64, exact for every n
 * (n = 2: 18446744073709551616). Input `{ even_number: n }`; results are decimal strings.
 */
import { Workflow } from "../workflow/Workflow.ts"
import { EvenNumberInput, MathResult, squareEvenNumber, squareProductOf } from "./EvenNumber.ts"

export const MixedDagWorkflow = Workflow.make({
  namespace: "rust_e2e_mixed_dag",
  name: "complex_dag",
  version: "1.0.0",
  description: "Fan-out, convergences and chains mixed in one DAG (n^64 at the end)",
  input: EvenNumberInput
})
  .step("dag_init", {
    description: "Square the even number: n^2",
    output: MathResult,
    run: squareEvenNumber
  })
  .step("dag_process_left", {
    description: "Square init: n^4",
    dependsOn: ["dag_init"],
    output: MathResult,
    run: squareProductOf(["dag_init"])
  })
  .step("dag_process_right", {
    description: "Square init: n^4",
    dependsOn: ["dag_init"],
    output: MathResult,
    run: squareProductOf(["dag_init"])
  })
  .step("dag_validate", {
    description: "Square the product of both processes: (left·right)^2 = n^16",
    dependsOn: ["dag_process_left", "dag_process_right"],
    output: MathResult,
    run: squareProductOf(["dag_process_left", "dag_process_right"])
  })
  .step("dag_transform", {
    description: "Square the left process: n^8",
    dependsOn: ["dag_process_left"],
    output: MathResult,
    run: squareProductOf(["dag_process_left"])
  })
  .step("dag_analyze", {
    description: "Square the right process: n^8",
    dependsOn: ["dag_process_right"],
    output: MathResult,
    run: squareProductOf(["dag_process_right"])
  })
  .step("dag_finalize", {
    description: "Square the product of validate, transform and analyze: (n^32)^2 = n^64",
    dependsOn: ["dag_validate", "dag_transform", "dag_analyze"],
    output: MathResult,
    run: squareProductOf(["dag_validate", "dag_transform", "dag_analyze"])
  })
