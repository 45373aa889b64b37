/**
 * The web dashboard's files under `/ui`: the Vite build of `ui/` (`npm run build:ui` → `dist/ui/`), served by the
 * API server on the same origin. The page itself holds no data, so `/ui` needs no token; every data call it makes
 * goes to `/v1/…` with the credential the user pasted.
 *
 * - static files with their content types; hashed files under `/ui/assets/` are cached for a year (`immutable`),
 *   everything else is revalidated (`no-cache`), so a new build is picked up on reload;
 * - any other path under `/ui` (a client route such as `/ui/tasks/<uuid>`) answers `index.html`;
 * - when the build is missing, a page saying how to build it (HTTP 503).
 *
 * The build directory is found relative to this module: `../../dist/ui` when running from the sources
 * (`node src/cli/main.ts serve`), `../../ui` when running from the compiled `dist/src/api/`.
 */
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { extname, join, normalize, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"

/** The URL prefix the dashboard is served under. */
export const DASHBOARD_PATH = "/ui"

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json"
}

/** The first candidate directory holding an `index.html`, or undefined when the dashboard was not built. */
export const findDashboardDirectory = (
  candidates: ReadonlyArray<string> = [
    fileURLToPath(new URL("../../dist/ui", import.meta.url)),
    fileURLToPath(new URL("../../ui", import.meta.url))
  ]
): string | undefined => candidates.find((dir) => existsSync(join(dir, "index.html")))

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tasker dashboard not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The dashboard has not been built</h1>
<p>The API works; only the web dashboard's files are missing. Build them with</p>
<pre>npm run build:ui</pre>
<p>(or <code>npm run build</code>, which <code>npm install</code> runs) and reload this page.</p>
</body></html>`

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

/** `/ui/assets/x.js` → `assets/x.js`; undefined for a path that would leave the directory. */
const relativePath = (url: string): string | undefined => {
  const pathname = decodeURIComponent(new URL(url, "http://localhost").pathname)
  const rest = pathname.slice(DASHBOARD_PATH.length).replace(/^\/+/, "")
  const normalized = normalize(rest)
  if (normalized.startsWith("..") || normalized.includes(`${sep}..${sep}`) || normalized.includes("\0")) return undefined
  return normalized === "." ? "" : normalized
}

const readIfFile = (path: string) =>
  Effect.tryPromise(() => readFile(path)).pipe(Effect.option)

/**
 * The routes serving the dashboard from `directory` (default: `findDashboardDirectory()`, looked up per request
 * while missing, so building it while the server runs works).
 */
export const dashboardAssetsLayer = (directory?: string) => {
  let found = directory ?? findDashboardDirectory()
  const serve = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      if (found === undefined) found = findDashboardDirectory()
      if (found === undefined) {
        return HttpServerResponse.text(MISSING_BUILD, { status: 503, contentType: CONTENT_TYPES[".html"]!, headers: SECURITY_HEADERS })
      }
      const pathname = new URL(request.url, "http://localhost").pathname
      // `/ui` → `/ui/`, so the page's relative asset URLs resolve under /ui/
      if (pathname === DASHBOARD_PATH) {
        return HttpServerResponse.empty({ status: 308, headers: { location: `${DASHBOARD_PATH}/` } })
      }
      const rel = pathname.startsWith(`${DASHBOARD_PATH}/`) ? relativePath(request.url) : undefined
      if (rel === undefined) return HttpServerResponse.text("not found", { status: 404 })
      const ext = extname(rel)
      if (rel !== "" && ext !== "") {
        const body = yield* readIfFile(join(found, rel))
        if (body._tag === "Some") {
          return HttpServerResponse.uint8Array(body.value, {
            contentType: CONTENT_TYPES[ext] ?? "application/octet-stream",
            headers: {
              ...SECURITY_HEADERS,
              "cache-control": rel.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache"
            }
          })
        }
        // a missing asset is a 404, not the page (a stale page asking for an old hashed file must see it fail)
        if (rel.startsWith("assets/")) return HttpServerResponse.text("not found", { status: 404 })
      }
      const index = yield* readIfFile(join(found, "index.html"))
      if (index._tag === "None") {
        found = undefined
        return HttpServerResponse.text(MISSING_BUILD, { status: 503, contentType: CONTENT_TYPES[".html"]!, headers: SECURITY_HEADERS })
      }
      return HttpServerResponse.uint8Array(index.value, {
        contentType: CONTENT_TYPES[".html"]!,
        headers: { ...SECURITY_HEADERS, "cache-control": "no-cache" }
      })
    })
  // the router's `/ui/*` also matches `/ui` itself
  return HttpRouter.add("GET", `${DASHBOARD_PATH}/*`, serve)
}
