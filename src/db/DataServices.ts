/**
 * The data-layer services over any `SqlClient` (PostgreSQL or embedded PGlite): the SQL function services,
 * state transitions and the processor registry.
 */
import { Layer } from "effect"
import { Transitions } from "./Transitions.ts"
import { Processors } from "./Processors.ts"
import { SqlFunctionsLayer } from "./SqlFunctions.ts"

export const DataServicesLayer = Layer.mergeAll(
  Transitions.layerNoDeps,
  Processors.layer
).pipe(Layer.provideMerge(SqlFunctionsLayer))
