/**
 * The order fulfillment example on PostgreSQL (the suite is shared with PGlite:
 * test/support/suites/OrderFulfillmentSuite.ts).
 */
import { postgres } from "../support/Databases.ts"
import { orderFulfillmentSuite } from "../support/suites/OrderFulfillmentSuite.ts"

orderFulfillmentSuite(postgres)
