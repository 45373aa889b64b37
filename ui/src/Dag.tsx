/**
 * A workflow's DAG: React Flow draws it, dagre lays it out (left to right). Each node shows the step's name and,
 * for a task, its live state (colour), attempts and duration; clicking a node selects the step.
 */
import { Graph, layout } from "@dagrejs/dagre"
import { Handle, type Node, type NodeProps, Position, ReactFlow, type Edge } from "@xyflow/react"
import "@xyflow/react/dist/style.css"
import { useLayoutEffect, useMemo, useRef, useState } from "react"

export interface DagStep {
  readonly name: string
  readonly dependencies: ReadonlyArray<string>
  readonly state?: string | undefined
  readonly attempts?: number | undefined
  readonly maxAttempts?: number | undefined
  readonly durationMs?: number | null | undefined
}

export const STATE_COLORS: Record<string, string> = {
  pending: "#d0d4da",
  enqueued: "#9ec5fe",
  in_progress: "#6ea8fe",
  enqueued_for_orchestration: "#9ec5fe",
  enqueued_as_error_for_orchestration: "#f1aeb5",
  waiting_for_retry: "#ffda6a",
  complete: "#75b798",
  error: "#ea868f",
  cancelled: "#adb5bd",
  resolved_manually: "#a3cfbb"
}

const WIDTH = 190
const HEIGHT = 64

type StepNode = Node<{ step: DagStep; selected: boolean }, "step">

const StepNodeView = ({ data }: NodeProps<StepNode>) => {
  const { step, selected } = data
  return (
    <div
      className={`dag-node${selected ? " selected" : ""}`}
      data-testid={`dag-node-${step.name}`}
      data-state={step.state ?? ""}
      style={{ background: step.state === undefined ? "#fff" : STATE_COLORS[step.state] ?? "#fff" }}
    >
      <Handle type="target" position={Position.Left} />
      <div className="dag-node-name">{step.name}</div>
      {step.state !== undefined && (
        <div className="dag-node-meta">
          {step.state} · {step.attempts ?? 0}/{step.maxAttempts ?? "?"}
          {step.durationMs !== undefined && step.durationMs !== null ? ` · ${formatMs(step.durationMs)}` : ""}
        </div>
      )}
      <Handle type="source" position={Position.Right} />
    </div>
  )
}

const nodeTypes = { step: StepNodeView }
const PADDING = 24
const MAX_ZOOM = 1.2

export const formatMs = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)

export const Dag = (props: {
  readonly steps: ReadonlyArray<DagStep>
  readonly selected?: string | undefined
  readonly onSelect?: (name: string) => void
}) => {
  const { nodes, edges, graphWidth, graphHeight } = useMemo(() => {
    const g = new Graph()
    g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60, marginx: 0, marginy: 0 })
    g.setDefaultEdgeLabel(() => ({}))
    for (const step of props.steps) g.setNode(step.name, { width: WIDTH, height: HEIGHT })
    const edges: Array<Edge> = []
    for (const step of props.steps) {
      for (const dep of step.dependencies) {
        if (!g.hasNode(dep)) continue
        g.setEdge(dep, step.name)
        edges.push({ id: `${dep}->${step.name}`, source: dep, target: step.name })
      }
    }
    layout(g)
    const graph = g.graph()
    const nodes: Array<StepNode> = props.steps.map((step) => {
      const { x, y } = g.node(step.name)
      return {
        id: step.name,
        type: "step",
        position: { x: x - WIDTH / 2, y: y - HEIGHT / 2 },
        // known sizes: the first fitView frames the graph before the nodes are measured
        width: WIDTH,
        height: HEIGHT,
        data: { step, selected: step.name === props.selected },
        draggable: false,
        connectable: false
      }
    })
    return { nodes, edges, graphWidth: graph.width ?? 0, graphHeight: graph.height ?? 0 }
  }, [props.steps, props.selected])
  // the graph framed in the container, computed here from dagre's bounds (React Flow's fitView can run before the
  // nodes are measured and frame only part of the graph)
  const container = useRef<HTMLDivElement>(null)
  const [size, setSize] = useState({ width: 0, height: 0 })
  useLayoutEffect(() => {
    const el = container.current
    if (el === null) return
    const measure = () => setSize({ width: el.clientWidth, height: el.clientHeight })
    measure()
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    return () => observer.disconnect()
  }, [])
  const zoom = Math.min(
    MAX_ZOOM,
    graphWidth > 0 ? (size.width - 2 * PADDING) / graphWidth : MAX_ZOOM,
    graphHeight > 0 ? (size.height - 2 * PADDING) / graphHeight : MAX_ZOOM
  )
  const viewport = {
    zoom: Math.max(0.1, zoom),
    x: (size.width - graphWidth * Math.max(0.1, zoom)) / 2,
    y: (size.height - graphHeight * Math.max(0.1, zoom)) / 2
  }
  return (
    <div className="dag" data-testid="dag" ref={container}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        key={`${size.width}x${size.height}:${nodes.length}`}
        defaultViewport={viewport}
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_, node) => props.onSelect?.(node.id)}
        proOptions={{ hideAttribution: true }}
      />
    </div>
  )
}
