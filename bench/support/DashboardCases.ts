/**
 * The dashboard's reads on the seeded 100 000-task database (bench/support/Seed.ts), run by the `sql-functions`
 * suite on the database it seeded: `GET /v1/overview`'s queries (`DashboardQueries.overview`: tasks by state, per
 * minute, step statistics, queues, live processors and their running steps) and the first page of the task list
 * with its total count (`TaskListing.list`, what `GET /v1/tasks` runs), each as the handler runs them, through the
 * engine's PostgreSQL layer (a pool: the overview's five statements run concurrently). A live processor is
 * registered first, so the running-steps part of the overview runs too. Target: 100 ms at the median (the issue's
 * bound for a task-list page; the overview is held to the same).
 */
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { postgresSqlLayer } from "../../layers/postgres.ts"
import { DashboardQueries } from "../../src/tasks/Dashboard.ts"
import { TaskListing } from "../../src/tasks/TaskListing.ts"
import { budget, sample, type SuiteContext } from "./Harness.ts"
import { type CaseResult, latencyCase, type Target } from "./Results.ts"

const PAGE_TARGET: ReadonlyArray<Target> = [{ metric: "p50", op: "<=", value: 100 }]
/** a live processor, so that the overview counts running steps for it */
const DASHBOARD_PROCESSOR = "00000000-0000-7000-8000-0000000000b2"

export const dashboardCases = async (ctx: SuiteContext, suite: string, url: string): Promise<Array<CaseResult>> => {
  const layer = Layer.mergeAll(DashboardQueries.layer, TaskListing.layer).pipe(
    Layer.provideMerge(postgresSqlLayer({ url: Redacted.make(url), autoMigrate: false, applicationName: "tasker-bench" }))
  )
  const runtime = ManagedRuntime.make(layer)
  try {
    await runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO tasker_processors (processor_uuid, role, hostname, pid)
          VALUES (${DASHBOARD_PROCESSOR}, 'worker', 'bench', 0)
          ON CONFLICT (processor_uuid) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL`))
    const timed = <A, E>(effect: Effect.Effect<A, E, DashboardQueries | TaskListing>) => async () => {
      const started = performance.now()
      await runtime.runPromise(effect)
      return performance.now() - started
    }
    const specs = [
      {
        name: "dashboard overview (GET /v1/overview's queries)",
        run: timed(Effect.flatMap(DashboardQueries, (q) => q.overview))
      },
      {
        name: "task list first page with its count (GET /v1/tasks's queries)",
        run: timed(Effect.flatMap(TaskListing, (l) => l.list({}, { page: 1, perPage: 25 })))
      }
    ]
    const cases: Array<CaseResult> = []
    for (const spec of specs) {
      const samples = await sample(spec.run, budget(ctx.mode, "slow"))
      cases.push(latencyCase({
        suite,
        case: spec.name,
        timed: "the queries of the endpoint's handler, from the first statement sent to the last row decoded",
        samplesMs: samples,
        targets: PAGE_TARGET
      }))
    }
    return cases
  } finally {
    await runtime.dispose()
  }
}
