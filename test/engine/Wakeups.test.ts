/** Wake-ups on PostgreSQL (the suite is shared with PGlite: test/support/suites/WakeupsSuite.ts). */
import { postgres } from "../support/Databases.ts"
import { wakeupsSuite } from "../support/suites/WakeupsSuite.ts"

wakeupsSuite(postgres)
