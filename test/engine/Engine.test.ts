/** The whole engine on PostgreSQL (the suite is shared with PGlite: test/support/suites/EngineSuite.ts). */
import { postgres } from "../support/Databases.ts"
import { engineSuite } from "../support/suites/EngineSuite.ts"

engineSuite(postgres)
