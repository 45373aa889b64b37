/**
 * The whole engine on the embedded database (the suite PostgreSQL runs too: test/support/suites/EngineSuite.ts): a
 * two-step workflow, notifications from the PL/pgSQL queue functions, the event-driven mode, where those
 * notifications are the only wake-ups, and two orchestrators and two workers sharing the one PGlite session.
 */
import { pglite } from "../support/Databases.ts"
import { engineSuite } from "../support/suites/EngineSuite.ts"

engineSuite(pglite)
