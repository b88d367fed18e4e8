import { describe, expect, it } from 'vitest'
import { dependencyKeysOf, graphMetrics, layoutSteps, viewportOf } from './pipeline-graph.ts'

const columns = (steps: Parameters<typeof layoutSteps>[0]) =>
  layoutSteps(steps).nodes.map((n) => `${steps[n.index]!.key}:${n.column}.${n.row}`)

describe('the pipeline graph layout', () => {
  it('chains steps without dependsOn one after another, as the server does', () => {
    const steps = [{ key: 'a' }, { key: 'b' }, { key: 'c' }]
    expect(dependencyKeysOf(steps, 0)).toEqual([])
    expect(dependencyKeysOf(steps, 2)).toEqual(['b'])
    const layout = layoutSteps(steps)
    expect(columns(steps)).toEqual(['a:0.0', 'b:1.0', 'c:2.0'])
    expect(layout.edges).toEqual([
      { from: 0, to: 1 },
      { from: 1, to: 2 },
    ])
    expect([layout.columns, layout.rows]).toEqual([3, 1])
  })

  it('puts a branch in one column and a join in the column after its longest input', () => {
    const steps = [
      { key: 'scout' },
      { key: 'write' },
      { key: 'check', dependsOn: ['scout'] },
      { key: 'polish', dependsOn: ['write'] },
      { key: 'send', dependsOn: ['check', 'polish'] },
      { key: 'alone', dependsOn: [] },
    ]
    expect(columns(steps)).toEqual([
      'scout:0.0',
      'write:1.0',
      'check:1.1',
      'polish:2.0',
      'send:3.0',
      'alone:0.1',
    ])
    const layout = layoutSteps(steps)
    expect(layout.edges).toContainEqual({ from: 2, to: 4 })
    expect(layout.edges).toContainEqual({ from: 3, to: 4 })
    expect(layout.edges.filter((e) => e.to === 5)).toEqual([])
    expect([layout.columns, layout.rows]).toEqual([4, 2])
  })

  it('draws what an editor may hold without throwing: unknown, repeated and own keys, duplicates, a cycle', () => {
    const steps = [
      { key: 'a', dependsOn: ['c'] },
      { key: 'b', dependsOn: ['a', 'a', 'b', 'ghost'] },
      { key: 'c', dependsOn: ['b'] },
      { key: 'b', dependsOn: ['b'] },
      { key: '' },
    ]
    const layout = layoutSteps(steps)
    expect(layout.nodes).toHaveLength(5)
    // One edge per pair; a dependency on itself or on nothing known is left out.
    expect(layout.edges.filter((e) => e.to === 1)).toEqual([{ from: 0, to: 1 }])
    // The second "b" depends on the first (keys name their first step).
    expect(layout.edges.filter((e) => e.to === 3)).toEqual([{ from: 1, to: 3 }])
    expect(new Set(layout.nodes.map((n) => `${n.column}.${n.row}`)).size).toBe(5)
    expect(layoutSteps([])).toEqual({ nodes: [], edges: [], columns: 0, rows: 0 })
  })
})

describe('the graph’s viewport', () => {
  const { nodeWidth, columnGap, padding } = graphMetrics
  const twoColumns = 2 * nodeWidth + columnGap

  it('draws at full size, centred, when the box is wide enough, and is as tall as the drawing', () => {
    const drawn = viewportOf({ columns: 2, rows: 2 }, 1000, 64)
    expect(drawn.viewport).toEqual({ x: (1000 - twoColumns) / 2, y: padding, zoom: 1 })
    expect(drawn.width).toBe(1000)
    expect(drawn.height).toBe(2 * 64 + graphMetrics.rowGap + 2 * padding)
  })

  it('scales down to fit a narrow box, and past half size scrolls sideways instead', () => {
    const phone = viewportOf({ columns: 2, rows: 1 }, 358, 124)
    expect(phone.viewport.zoom).toBeCloseTo((358 - 2 * padding) / twoColumns)
    expect(phone.width).toBe(358)
    expect(phone.height).toBeCloseTo(124 * phone.viewport.zoom + 2 * padding)
    const wide = viewportOf({ columns: 6, rows: 1 }, 358, 124)
    expect(wide.viewport).toMatchObject({ zoom: 0.5, x: padding })
    expect(wide.width).toBe((6 * (nodeWidth + columnGap) - columnGap) / 2 + 2 * padding)
  })

  it('draws at full size before the box is measured', () => {
    expect(viewportOf({ columns: 0, rows: 0 }, 0, 64).viewport.zoom).toBe(1)
  })
})
