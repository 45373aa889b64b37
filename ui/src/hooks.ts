/**
 * Shared page plumbing: a tiny router over the History API (every page lives under `/ui/`), data loading that
 * re-runs when the live stream says something changed (or every 10 s, the slowest refresh allowed), and the
 * signal that the API answered 401.
 */
import { createContext, useCallback, useContext, useEffect, useState } from "react"
import { CallError } from "./api.ts"

export const BASE = "/ui"

export const usePath = (): [string, (to: string) => void] => {
  const [path, setPath] = useState(() => window.location.pathname + window.location.search)
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname + window.location.search)
    window.addEventListener("popstate", onPop)
    return () => window.removeEventListener("popstate", onPop)
  }, [])
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, "", to)
    setPath(to)
    window.scrollTo(0, 0)
  }, [])
  return [path, navigate]
}

export const NavigateContext = createContext<(to: string) => void>(() => {})
export const useNavigate = () => useContext(NavigateContext)

/** Bumped whenever the live stream reports a change (the pages reload their data). */
export const LiveTickContext = createContext(0)

/** The slowest refresh the pages do on their own (no polling faster than this). */
export const REFRESH_MS = 10_000

export const UNAUTHORIZED_EVENT = "tasker:unauthorized"

export interface Loaded<A> {
  readonly data: A | undefined
  readonly error: CallError | undefined
  readonly loading: boolean
  readonly reload: () => void
}

/** Loads with `load`, again when `deps` or the live tick change, and every `REFRESH_MS`. */
export const useData = <A>(load: () => Promise<A>, deps: ReadonlyArray<unknown>): Loaded<A> => {
  const tick = useContext(LiveTickContext)
  const [state, setState] = useState<{ data: A | undefined; error: CallError | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true
  })
  const [manual, setManual] = useState(0)
  useEffect(() => {
    let cancelled = false
    const run = () =>
      load().then(
        (data) => !cancelled && setState({ data, error: undefined, loading: false }),
        (error: unknown) => {
          if (cancelled) return
          const e = error instanceof CallError ? error : new CallError(undefined, String(error))
          if (e.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT))
          setState((s) => ({ data: e.status === 401 ? undefined : s.data, error: e, loading: false }))
        }
      )
    void run()
    const timer = setInterval(run, REFRESH_MS)
    return () => {
      cancelled = true
      clearInterval(timer)
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, manual])
  return { ...state, reload: () => setManual((n) => n + 1) }
}

export const fmtDate = (d: Date | string | null | undefined) =>
  d === null || d === undefined ? "—" : new Date(d).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")

/** The server's dashboard settings (`GET /v1/ui_config`): the trace viewer URL template. */
export const UiConfigContext = createContext<
  { readonly trace_url_template: string | null; readonly auth_required: boolean } | undefined
>(undefined)
