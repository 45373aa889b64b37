import { defineConfig } from "vitest/config"

/**
 * `npm run test:reliability`: real `tasker` processes on a fresh PostgreSQL database each, killed, restarted and
 * loaded. The files run one at a time (they start several processes each and this is a 2-core machine).
 */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000
  }
})
