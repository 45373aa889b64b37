/**
 * Seeds a database with the benchmark dataset (bench/support/Seed.ts: 100 000 tasks from a fixed seed) and keeps
 * it, for exploring plans by hand. The benchmark suites seed their own databases and drop them.
 *
 *   npm run bench:seed                                  # creates tasker_bench_seed_<random>, prints its URL
 *   npm run bench:seed -- --database-url postgres://…   # seeds an existing, empty database
 *   npm run bench:seed -- --tasks 10000 --seed 7
 */
import { flagValue } from "./support/Harness.ts"
import { createBenchDatabase } from "./support/BenchEngine.ts"
import { SEED, SEED_TASKS, seedDatabase } from "./support/Seed.ts"

const argv = process.argv.slice(2)
const tasks = Number(flagValue(argv, "--tasks") ?? SEED_TASKS)
const seed = Number(flagValue(argv, "--seed") ?? SEED)
const url = flagValue(argv, "--database-url") ?? (await createBenchDatabase("tasker_bench_seed")).url
console.log(`seeding ${url} with ${tasks} tasks (seed ${seed})`)
const counts = await seedDatabase(url, { tasks, seed, log: (line) => console.log(`  ${line}`) })
console.log(counts)
console.log(`kept: ${url} (drop it with DROP DATABASE when done)`)
