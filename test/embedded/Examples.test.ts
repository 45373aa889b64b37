/**
 * The example workflows end to end on the embedded database, with exact results (the suites PostgreSQL runs too:
 * test/support/suites/MathWorkflowsSuite.ts, ErrorScenariosSuite.ts, OrderFulfillmentSuite.ts).
 */
import { pglite } from "../support/Databases.ts"
import { errorScenariosSuite } from "../support/suites/ErrorScenariosSuite.ts"
import { mathWorkflowsSuite } from "../support/suites/MathWorkflowsSuite.ts"
import { orderFulfillmentSuite } from "../support/suites/OrderFulfillmentSuite.ts"

mathWorkflowsSuite(pglite)
errorScenariosSuite(pglite)
orderFulfillmentSuite(pglite)
