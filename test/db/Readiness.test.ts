/** The readiness functions on PostgreSQL (the suite is shared with PGlite: test/support/suites/ReadinessSuite.ts). */
import { postgres } from "../support/Databases.ts"
import { readinessSuite } from "../support/suites/ReadinessSuite.ts"

readinessSuite(postgres)
