/**
 * A workflow's DAG: React Flow draws it, dagre lays it out (left to right). Each node shows the step's name and,
 * for a task, its live state (colour), attempts and duration; clicking a node selects the step.
 */
import { Graph, layout } from "@dagrejs/dagre"
import { Handle, type Node, type NodeProps, Position, ReactFlow, type Edge } from "@xyflow/react"
import "@xyflow/react/dist/style.css"
import { useMemo } from "react"

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

export const formatMs = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)

export const Dag = (props: {
  readonly steps: ReadonlyArray<DagStep>
  readonly selected?: string | undefined
  readonly onSelect?: (name: string) => void
}) => {
  const { nodes, edges } = useMemo(() => {
    const g = new Graph()
    g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60 })
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
    const nodes: Array<StepNode> = props.steps.map((step) => {
      const { x, y } = g.node(step.name)
      return {
        id: step.name,
        type: "step",
        position: { x: x - WIDTH / 2, y: y - HEIGHT / 2 },
        data: { step, selected: step.name === props.selected },
        draggable: false,
        connectable: false
      }
    })
    return { nodes, edges }
  }, [props.steps, props.selected])
  return (
    <div className="dag" data-testid="dag">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_, node) => props.onSelect?.(node.id)}
        proOptions={{ hideAttribution: true }}
      />
    </div>
  )
}
