/** Wake-ups on the embedded database (the suite PostgreSQL runs too: test/support/suites/WakeupsSuite.ts). */
import { pglite } from "../support/Databases.ts"
import { wakeupsSuite } from "../support/suites/WakeupsSuite.ts"

wakeupsSuite(pglite)
