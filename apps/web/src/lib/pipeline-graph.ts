// A pipeline's steps as a graph for drawing: an edge from each dependency to the step that waits for
// it (default: the step before, as the server reads it — decision 0033), each step in the column of
// its longest path from a step that starts with the pipeline, and rows in definition order within a
// column. It works on what an editor holds too (empty or duplicate keys, unknown dependencies, a
// cycle): those draw as far as they can and never throw; the server names them on save.

export interface GraphStep {
  key: string
  /** Absent: the step before (none for the first); `[]`: starts with the pipeline. */
  dependsOn?: readonly string[] | null | undefined
}

export interface GraphNode {
  /** The step's index in the definition. */
  index: number
  column: number
  row: number
}

export interface GraphEdge {
  /** Index of the step that must end first. */
  from: number
  /** Index of the step that waits for it. */
  to: number
}

export interface GraphLayout {
  /** In definition order. */
  nodes: GraphNode[]
  edges: GraphEdge[]
  columns: number
  /** The most steps in one column. */
  rows: number
}

/** What each step waits for, by key: its `dependsOn`, or the step before it (none for the first). */
export function dependencyKeysOf(steps: readonly GraphStep[], index: number): readonly string[] {
  const step = steps[index]
  if (!step) return []
  if (step.dependsOn !== undefined && step.dependsOn !== null) return step.dependsOn
  return index === 0 ? [] : [steps[index - 1]!.key]
}

export function layoutSteps(steps: readonly GraphStep[]): GraphLayout {
  // The first step of a key is the one a dependency names (the server refuses duplicates anyway).
  const indexOfKey = new Map<string, number>()
  steps.forEach((step, index) => {
    if (step.key !== '' && !indexOfKey.has(step.key)) indexOfKey.set(step.key, index)
  })
  const edges: GraphEdge[] = []
  const parents: number[][] = steps.map(() => [])
  steps.forEach((_, to) => {
    const seen = new Set<number>()
    for (const key of dependencyKeysOf(steps, to)) {
      const from = indexOfKey.get(key)
      if (from === undefined || from === to || seen.has(from)) continue
      seen.add(from)
      edges.push({ from, to })
      parents[to]!.push(from)
    }
  })

  // Longest path from a root, depth-first with memo; an edge back into the path being walked (a
  // cycle) is left out of the depth, so every step still gets a column.
  const depth: (number | undefined)[] = steps.map(() => undefined)
  const walking = new Set<number>()
  const depthOf = (index: number): number => {
    const known = depth[index]
    if (known !== undefined) return known
    walking.add(index)
    let d = 0
    for (const parent of parents[index]!) {
      if (walking.has(parent)) continue
      d = Math.max(d, depthOf(parent) + 1)
    }
    walking.delete(index)
    depth[index] = d
    return d
  }

  const perColumn = new Map<number, number>()
  const nodes = steps.map((_, index) => {
    const column = depthOf(index)
    const row = perColumn.get(column) ?? 0
    perColumn.set(column, row + 1)
    return { index, column, row }
  })
  return {
    nodes,
    edges,
    columns: perColumn.size === 0 ? 0 : Math.max(...perColumn.keys()) + 1,
    rows: perColumn.size === 0 ? 0 : Math.max(...perColumn.values()),
  }
}

/** How the graph is drawn, in px at zoom 1. */
export const graphMetrics = {
  /** The node's width (w-52). */
  nodeWidth: 208,
  columnGap: 72,
  /** The tallest node: key, bot, status, a two-line note and a link (a run); key and bot (a plan). */
  nodeHeight: { run: 124, plan: 64 },
  rowGap: 24,
  padding: 16,
  /** Narrower than this, the box scrolls sideways rather than shrink the text further. */
  minZoom: 0.5,
} as const

/**
 * Where the drawing sits in a box `width` wide whose nodes are `nodeTall` high: scaled to fit (never
 * up, at least `minZoom`) and centred; the box is as tall as the drawing and, at `minZoom`, wider
 * than itself (it scrolls).
 */
export function viewportOf(layout: { columns: number; rows: number }, width: number, nodeTall: number) {
  const { nodeWidth, columnGap, rowGap, padding, minZoom } = graphMetrics
  const contentWidth = Math.max(1, layout.columns) * (nodeWidth + columnGap) - columnGap
  const contentHeight = Math.max(1, layout.rows) * (nodeTall + rowGap) - rowGap
  const zoom = width > 0 ? Math.min(1, Math.max(minZoom, (width - 2 * padding) / contentWidth)) : 1
  return {
    viewport: { x: Math.max(padding, (width - contentWidth * zoom) / 2), y: padding, zoom },
    width: Math.max(width, contentWidth * zoom + 2 * padding),
    height: contentHeight * zoom + 2 * padding,
  }
}
