/**
 * The dashboard's build: `ui/` → `dist/ui/` (served by the API under `/ui`, `src/api/DashboardAssets.ts`).
 * Run by `npm run build:ui` (part of `npm run build`, which `npm install` runs through `prepare`).
 */
import { fileURLToPath } from "node:url"
import react from "@vitejs/plugin-react"
import { defineConfig } from "vite"

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000
  },
  logLevel: "warn"
})
