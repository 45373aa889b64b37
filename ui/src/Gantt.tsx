/**
 * A task's timeline as a Gantt chart (`GET /v1/tasks/:task_uuid/timeline`): one row per step, its segments
 * (waiting for dependencies, queued, running, backing off) placed on the task's time span; an open segment runs
 * to now.
 */
import { formatMs } from "./Dag.tsx"
import { fmtDate } from "./hooks.ts"

const PHASE_COLORS: Record<string, string> = {
  waiting: "#d0d4da",
  queued: "#9ec5fe",
  running: "#1f6feb",
  backoff: "#ffda6a"
}

interface Timeline {
  readonly created_at: Date
  readonly finished_at: Date | null
  readonly steps: ReadonlyArray<{
    readonly step_uuid: string
    readonly name: string
    readonly state: string
    readonly segments: ReadonlyArray<{ readonly phase: string; readonly start: Date; readonly end: Date | null; readonly attempt: number }>
  }>
}

export const Gantt = (props: { readonly timeline: Timeline }) => {
  const { timeline } = props
  const now = Date.now()
  const start = timeline.created_at.getTime()
  const ends = timeline.steps.flatMap((s) => s.segments.map((g) => (g.end ?? new Date(now)).getTime()))
  const end = Math.max(timeline.finished_at?.getTime() ?? 0, ...ends, start + 1)
  const span = end - start
  const pct = (t: number) => `${(100 * (t - start)) / span}%`
  return (
    <div className="gantt" data-testid="timeline">
      <div className="gantt-legend">
        {Object.entries(PHASE_COLORS).map(([phase, color]) => (
          <span key={phase}><i style={{ background: color }} /> {phase}</span>
        ))}
        <span className="muted">{fmtDate(timeline.created_at)} → {timeline.finished_at === null ? "now" : fmtDate(timeline.finished_at)} ({formatMs(span)})</span>
      </div>
      {timeline.steps.map((step) => (
        <div className="gantt-row" key={step.step_uuid} data-testid={`timeline-${step.name}`}>
          <div className="gantt-label">{step.name}</div>
          <div className="gantt-track">
            {step.segments.map((g, i) => {
              const s = g.start.getTime()
              const e = (g.end ?? new Date(now)).getTime()
              return (
                <div
                  key={i}
                  className={`gantt-bar phase-${g.phase}`}
                  data-phase={g.phase}
                  title={`${g.phase} (attempt ${g.attempt}): ${formatMs(e - s)}`}
                  style={{
                    left: pct(s),
                    width: `max(2px, ${(100 * (e - s)) / span}%)`,
                    background: PHASE_COLORS[g.phase] ?? "#888"
                  }}
                />
              )
            })}
          </div>
        </div>
      ))}
    </div>
  )
}
