/**
 * The math example workflows on PostgreSQL (the suite is shared with PGlite:
 * test/support/suites/MathWorkflowsSuite.ts).
 */
import { postgres } from "../support/Databases.ts"
import { mathWorkflowsSuite } from "../support/suites/MathWorkflowsSuite.ts"

mathWorkflowsSuite(postgres)
