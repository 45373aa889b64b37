import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // the process-level crash, load and restart suites run with `npm run test:reliability` (vitest.reliability.config.ts)
    exclude: ["test/reliability/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
