import '@xyflow/react/dist/style.css'
import './pipeline-graph.css'
import type { PipelineRunStep } from '@openorch/contracts'
import { type Edge, Handle, MarkerType, type Node, type NodeProps, Position, ReactFlow } from '@xyflow/react'
import { type RefObject, useEffect, useMemo, useRef, useState } from 'react'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import { type GraphStep, graphMetrics, layoutSteps, viewportOf } from '../lib/pipeline-graph.ts'
import { Link } from '../lib/router.tsx'
import { cx } from './ui.tsx'

// A pipeline's steps as a read-only graph (React Flow): nodes are steps, edges their dependencies,
// columns by the longest path from a start (lib/pipeline-graph.ts). Nothing is dragged, zoomed or
// panned: the page scrolls as usual. The viewport is computed from the layout and the box's width
// (not measured by React Flow), so the box is as tall as the drawing: scaled down to fit a narrow
// screen, and scrolled sideways past half size. Each node is focusable with a label
// that says the step, its bot, what it waits for and (in a run) its status in words; a run's status
// shows as colour, icon and text, never colour alone.

export type StepStatus = PipelineRunStep['status']

export interface GraphStepView extends GraphStep {
  botName: string
  status?: StepStatus | undefined
  /** The step's run page (a run view). */
  href?: string | null | undefined
  /** Why it was skipped or failed. */
  note?: string | null | undefined
}

export const stepStatusIcon: Record<StepStatus, string> = {
  pending: '🕓',
  running: '⏳',
  approval: '✋',
  completed: '✅',
  failed: '❌',
  skipped: '⏭️',
  cancelled: '⏹️',
}

export const stepStatusStyle: Record<StepStatus, string> = {
  pending:
    'border-slate-300 bg-white text-slate-900 dark:border-slate-600 dark:bg-slate-800 dark:text-slate-100',
  running: 'border-sky-500 bg-sky-50 text-sky-950 dark:border-sky-400 dark:bg-sky-950 dark:text-sky-50',
  approval:
    'border-amber-500 bg-amber-50 text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50',
  completed:
    'border-emerald-600 bg-emerald-50 text-emerald-950 dark:border-emerald-400 dark:bg-emerald-950 dark:text-emerald-50',
  failed: 'border-red-600 bg-red-50 text-red-950 dark:border-red-400 dark:bg-red-950 dark:text-red-50',
  skipped:
    'border-dashed border-slate-400 bg-slate-100 text-slate-800 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-200',
  cancelled:
    'border-slate-500 bg-slate-100 text-slate-900 dark:border-slate-400 dark:bg-slate-900 dark:text-slate-100',
}

const { nodeWidth, columnGap, nodeHeight, rowGap, minZoom } = graphMetrics

type StepNode = Node<{ step: GraphStepView }, 'step'>

function StepNodeView({ data }: NodeProps<StepNode>) {
  const { t } = useI18n()
  const { step } = data
  return (
    <div
      className={cx(
        // w-52: graphMetrics.nodeWidth.
        'w-52 rounded-md border-2 px-3 py-2 text-left text-sm shadow-sm',
        stepStatusStyle[step.status ?? 'pending'],
      )}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <p className="truncate font-mono font-semibold">{step.key || t('pipeline.step.untitled')}</p>
      <p className="truncate text-xs">{step.botName}</p>
      {step.status && (
        <p className="mt-1 flex items-center gap-1 text-xs font-medium" data-testid="step-status">
          <span aria-hidden="true">{stepStatusIcon[step.status]}</span>
          {t(`stepStatus.${step.status}` as MessageKey)}
        </p>
      )}
      {step.note && (
        <p className="line-clamp-2 text-xs break-words" title={step.note}>
          {step.note}
        </p>
      )}
      {step.href && (
        <Link href={step.href} className="nodrag nopan text-xs underline">
          {t('pipelineRun.openStep')}
        </Link>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  )
}

const nodeTypes = { step: StepNodeView }

/** The width of an element, following resizes. */
function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(0)
  useEffect(() => {
    const element = ref.current
    if (!element) return
    setWidth(element.clientWidth)
    const observer = new ResizeObserver(() => setWidth(element.clientWidth))
    observer.observe(element)
    return () => observer.disconnect()
  }, [])
  return [ref, width]
}

export default function PipelineGraph({ steps, label }: { steps: readonly GraphStepView[]; label: string }) {
  const { t } = useI18n()
  const layout = useMemo(() => layoutSteps(steps), [steps])
  const [box, boxWidth] = useWidth()
  const isRun = steps.some((step) => step.status !== undefined)
  const nodeTall = isRun ? nodeHeight.run : nodeHeight.plan
  const rowHeight = nodeTall + rowGap
  const drawn = viewportOf(layout, boxWidth, nodeTall)
  const { nodes, edges } = useMemo(() => {
    const waitsFor = steps.map(() => [] as string[])
    for (const edge of layout.edges) waitsFor[edge.to]!.push(steps[edge.from]!.key)
    // Focus order follows the drawing: column by column, top to bottom.
    const ordered = [...layout.nodes].sort((a, b) => a.column - b.column || a.row - b.row)
    const nodes: StepNode[] = ordered.map(({ index, column, row }) => {
      const step = steps[index]!
      const after = waitsFor[index]!.length
        ? t('graph.after', { steps: waitsFor[index]!.join(', ') })
        : t('graph.atStart')
      const status = step.status ? `: ${t(`stepStatus.${step.status}` as MessageKey)}` : ''
      return {
        id: `n${index}`,
        type: 'step',
        position: { x: column * (nodeWidth + columnGap), y: row * rowHeight },
        data: { step },
        ariaLabel: `${t('graph.node', { n: index + 1, key: step.key || t('pipeline.step.untitled'), bot: step.botName })}, ${after}${status}`,
        // React Flow lets clicks through a node that is neither selectable nor draggable: its link must get them.
        style: { pointerEvents: 'all' },
        draggable: false,
        selectable: false,
        connectable: false,
        deletable: false,
      }
    })
    const edges: Edge[] = layout.edges.map(({ from, to }) => ({
      id: `e${from}-${to}`,
      source: `n${from}`,
      target: `n${to}`,
      markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 },
      ariaLabel: t('graph.edge', {
        from: steps[from]!.key || t('pipeline.step.untitled'),
        to: steps[to]!.key || t('pipeline.step.untitled'),
      }),
      focusable: false,
      selectable: false,
      deletable: false,
    }))
    return { nodes, edges }
  }, [steps, layout, t, rowHeight])
  const hint = t('graph.hint')
  return (
    <div
      ref={box}
      className="pipeline-graph w-full overflow-x-auto rounded-md border border-slate-200 bg-slate-50 dark:border-slate-700 dark:bg-slate-900"
      data-testid="pipeline-graph"
    >
      <div style={{ width: drawn.width, height: drawn.height }}>
        <ReactFlow
          aria-label={label}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          viewport={drawn.viewport}
          minZoom={minZoom}
          maxZoom={1}
          autoPanOnNodeFocus={false}
          nodesDraggable={false}
          nodesConnectable={false}
          nodesFocusable
          edgesFocusable={false}
          elementsSelectable={false}
          panOnDrag={false}
          panOnScroll={false}
          zoomOnScroll={false}
          zoomOnPinch={false}
          zoomOnDoubleClick={false}
          preventScrolling={false}
          deleteKeyCode={null}
          selectionKeyCode={null}
          multiSelectionKeyCode={null}
          panActivationKeyCode={null}
          zoomActivationKeyCode={null}
          defaultMarkerColor="#64748b"
          ariaLabelConfig={{
            'node.a11yDescription.default': hint,
            'node.a11yDescription.keyboardDisabled': hint,
            'node.a11yDescription.ariaLiveMessage': () => '',
            'edge.a11yDescription.default': hint,
          }}
        />
      </div>
    </div>
  )
}
