/**
 * `npm run build:ui`: the dashboard's production build (`ui/vite.config.ts` → `dist/ui/`). NODE_ENV is set to
 * `production` before Vite loads, whatever the environment says: under another value (the test runner's `test`,
 * when a test runs `npm pack`, whose `prepare` builds) Vite and the React plugin would build React's development
 * variant, which runs every effect twice under StrictMode — the page would open its event stream twice.
 */
import { fileURLToPath } from "node:url"

process.env.NODE_ENV = "production"
const { build } = await import("vite")
await build({ configFile: fileURLToPath(new URL("vite.config.ts", import.meta.url)) })
