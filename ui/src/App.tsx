/**
 * The dashboard's shell: navigation, the live-stream indicator, the token prompt (shown when the API answers 401;
 * the token is kept in `sessionStorage`) and the pages, routed by path under `/ui/`.
 */
import { useEffect, useState } from "react"
import { getToken, setToken } from "./api.ts"
import { BASE, LiveTickContext, NavigateContext, UiConfigContext, UNAUTHORIZED_EVENT, useData, usePath } from "./hooks.ts"
import { call } from "./api.ts"
import { connectLive, type LiveStatus } from "./live.ts"
import { DeadLettersView } from "./DeadLetters.tsx"
import { OverviewView } from "./Overview.tsx"
import { NotFound, TaskDetailView } from "./TaskDetail.tsx"
import { TasksView } from "./Tasks.tsx"
import { TemplatesView } from "./Templates.tsx"

const LIVE_LABELS: Record<LiveStatus, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  unavailable: "no live stream (refreshing every 10 s)"
}

export const App = () => {
  const [path, navigate] = usePath()
  const [needToken, setNeedToken] = useState(false)
  const [tokenGeneration, setTokenGeneration] = useState(0)
  const [live, setLive] = useState<LiveStatus>("connecting")
  const [tick, setTick] = useState(0)

  useEffect(() => {
    const onUnauthorized = () => setNeedToken(true)
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized)
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized)
  }, [])

  // one stream for the page; any task or step event reloads the data on screen (at most once a second)
  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | undefined
    const stop = connectLive(() => {
      if (pending === undefined) {
        pending = setTimeout(() => {
          pending = undefined
          setTick((n) => n + 1)
        }, 1000)
      }
    }, setLive)
    return () => {
      stop()
      if (pending !== undefined) clearTimeout(pending)
    }
  }, [tokenGeneration])

  const uiConfig = useData(() => call((c) => c.dashboard.uiConfig()), [tokenGeneration])

  const [pathname, search = ""] = path.split("?")
  const route = (pathname ?? "").replace(/^\/ui/, "").replace(/\/+$/, "") || "/"
  const taskMatch = /^\/tasks\/([^/]+)$/.exec(route)
  let page
  if (needToken) page = <TokenPrompt onSubmit={(token) => {
    setToken(token)
    setNeedToken(false)
    setTokenGeneration((n) => n + 1)
  }} />
  else if (route === "/") page = <OverviewView />
  else if (route === "/tasks") page = <TasksView search={search} />
  else if (taskMatch !== null) page = <TaskDetailView taskUuid={decodeURIComponent(taskMatch[1]!)} />
  else if (route === "/templates") page = <TemplatesView />
  else if (route === "/dead-letters") page = <DeadLettersView search={search} />
  else page = <NotFound what={`There is no page ${pathname}.`} />

  const link = (to: string, label: string) => (
    <a
      href={`${BASE}${to}`}
      className={route === to || (to !== "/" && route.startsWith(to)) ? "active" : ""}
      onClick={(e) => {
        e.preventDefault()
        navigate(`${BASE}${to}`)
      }}
    >
      {label}
    </a>
  )
  return (
    <NavigateContext.Provider value={navigate}>
      <UiConfigContext.Provider value={uiConfig.data}>
      <LiveTickContext.Provider value={tick + tokenGeneration * 1000}>
        <header>
          <h1>tasker</h1>
          <nav>
            {link("/", "Overview")}
            {link("/tasks", "Tasks")}
            {link("/templates", "Templates")}
            {link("/dead-letters", "Dead letters")}
          </nav>
          <span className={`live live-${live}`} data-testid="live-status">{LIVE_LABELS[live]}</span>
          {getToken() !== undefined && (
            <button className="link" onClick={() => { setToken(undefined); setNeedToken(true) }}>forget token</button>
          )}
        </header>
        <main key={tokenGeneration}>{page}</main>
      </LiveTickContext.Provider>
      </UiConfigContext.Provider>
    </NavigateContext.Provider>
  )
}

const TokenPrompt = (props: { readonly onSubmit: (token: string) => void }) => {
  const [value, setValue] = useState("")
  return (
    <section className="token-prompt" data-testid="token-prompt">
      <h2>API token required</h2>
      <p>
        This server has authentication on. Paste an API token (sent as <code>Authorization: Bearer …</code>; kept in
        this tab's session storage only).
      </p>
      <form onSubmit={(e) => { e.preventDefault(); props.onSubmit(value.trim()) }}>
        <input type="password" data-testid="token-input" value={value} onChange={(e) => setValue(e.target.value)} size={50} />
        <button type="submit" className="primary" data-testid="token-submit">Use token</button>
      </form>
    </section>
  )
}
