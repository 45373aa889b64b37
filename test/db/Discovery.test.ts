/** Task discovery on PostgreSQL (the suite is shared with PGlite: test/support/suites/DiscoverySuite.ts). */
import { postgres } from "../support/Databases.ts"
import { discoverySuite } from "../support/suites/DiscoverySuite.ts"

discoverySuite(postgres)
