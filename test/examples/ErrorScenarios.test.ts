/**
 * The error scenario examples on PostgreSQL (the suite is shared with PGlite:
 * test/support/suites/ErrorScenariosSuite.ts).
 */
import { postgres } from "../support/Databases.ts"
import { errorScenariosSuite } from "../support/suites/ErrorScenariosSuite.ts"

errorScenariosSuite(postgres)
