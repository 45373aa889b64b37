/** Tasks created, completed and failed per minute (uPlot, a small canvas chart library). */
import { useEffect, useRef } from "react"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"

export interface MinuteRow {
  readonly minute: Date
  readonly created: number
  readonly completed: number
  readonly failed: number
}

export const PerMinuteChart = (props: { readonly rows: ReadonlyArray<MinuteRow> }) => {
  const container = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = container.current
    if (el === null) return
    const data: uPlot.AlignedData = [
      props.rows.map((r) => r.minute.getTime() / 1000),
      props.rows.map((r) => r.created),
      props.rows.map((r) => r.completed),
      props.rows.map((r) => r.failed)
    ]
    const plot = new uPlot({
      width: Math.max(300, el.clientWidth - 20),
      height: 220,
      series: [
        {},
        { label: "created", stroke: "#1f6feb", width: 2 },
        { label: "completed", stroke: "#1a7f37", width: 2 },
        { label: "failed", stroke: "#cf222e", width: 2 }
      ],
      axes: [{}, { label: "tasks / minute" }],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } }
    }, data, el)
    return () => plot.destroy()
  }, [props.rows])
  return <div ref={container} className="chart" data-testid="per-minute-chart" />
}
