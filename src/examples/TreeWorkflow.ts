/**
 * Tree workflow (tasker-core's `rust_e2e_tree/hierarchical_tree`): a root, two branches with two leaves each, and
 * a final step that converges all four leaves.
 *
 * ```text
 * tree_root ─┬→ tree_branch_left ──┬→ tree_leaf_d ─┐
 *            │                     └→ tree_leaf_e ─┤
 *            └→ tree_branch_right ─┬→ tree_leaf_f ─┼→ tree_final_convergence
 *                                  └→ tree_leaf_g ─┘
 * ```
 *
 * root = n², each branch = root² = n⁴, each leaf = its branch² = n⁸, final = (d·e·f·g)² = n^64, exact
 * (n = 6: 63340286662973277706162286946811886609896461828096). Input `{ even_number: n }`; results are decimal
 * strings.
 */
import { Workflow } from "../workflow/Workflow.ts"
import { EvenNumberInput, MathResult, squareEvenNumber, squareProductOf } from "./EvenNumber.ts"

const leaves = ["tree_leaf_d", "tree_leaf_e", "tree_leaf_f", "tree_leaf_g"] as const

export const TreeWorkflow = Workflow.make({
  namespace: "rust_e2e_tree",
  name: "hierarchical_tree",
  version: "1.0.0",
  description: "A root, two branches, four leaves and one convergence step (n^64 at the end)",
  input: EvenNumberInput
})
  .step("tree_root", {
    description: "Square the even number: n^2",
    output: MathResult,
    run: squareEvenNumber
  })
  .step("tree_branch_left", {
    description: "Square the root: n^4",
    dependsOn: ["tree_root"],
    output: MathResult,
    run: squareProductOf(["tree_root"])
  })
  .step("tree_branch_right", {
    description: "Square the root: n^4",
    dependsOn: ["tree_root"],
    output: MathResult,
    run: squareProductOf(["tree_root"])
  })
  .step("tree_leaf_d", {
    description: "Square the left branch: n^8",
    dependsOn: ["tree_branch_left"],
    output: MathResult,
    run: squareProductOf(["tree_branch_left"])
  })
  .step("tree_leaf_e", {
    description: "Square the left branch: n^8",
    dependsOn: ["tree_branch_left"],
    output: MathResult,
    run: squareProductOf(["tree_branch_left"])
  })
  .step("tree_leaf_f", {
    description: "Square the right branch: n^8",
    dependsOn: ["tree_branch_right"],
    output: MathResult,
    run: squareProductOf(["tree_branch_right"])
  })
  .step("tree_leaf_g", {
    description: "Square the right branch: n^8",
    dependsOn: ["tree_branch_right"],
    output: MathResult,
    run: squareProductOf(["tree_branch_right"])
  })
  .step("tree_final_convergence", {
    description: "Square the product of the four leaves: (d·e·f·g)^2 = n^64",
    dependsOn: leaves,
    output: MathResult,
    run: squareProductOf(leaves)
  })
