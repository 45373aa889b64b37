/**
 * Task and step transitions on PostgreSQL (the suite is shared with PGlite:
 * test/support/suites/TransitionsSuite.ts).
 */
import { postgres } from "../support/Databases.ts"
import { transitionsSuite } from "../support/suites/TransitionsSuite.ts"

transitionsSuite(postgres)
