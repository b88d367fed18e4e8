import { describe, expect, it } from 'vitest'
import { eventPayloadJsonOf, type RunKindView } from './run-view.ts'

const views: RunKindView[] = [
  { kind: 'bot', subjectField: 'botId', resultFields: ['tokensIn'] },
  { kind: 'pipeline', subjectField: 'pipelineId', resultFields: [] },
]
const present = eventPayloadJsonOf(views)

describe('event payloads as the live feed shows them', () => {
  it("names a run's subject by its domain's field, and every other domain's field null", () => {
    expect(
      present({ runId: 'r', tenantId: 't', kind: 'bot', subjectId: 'news', status: 'completed' }),
    ).toEqual({
      runId: 'r',
      tenantId: 't',
      kind: 'bot',
      botId: 'news',
      pipelineId: null,
      status: 'completed',
    })
    expect(present({ runId: 'r', tenantId: 't', kind: 'pipeline', subjectId: 'p1' })).toMatchObject({
      botId: null,
      pipelineId: 'p1',
    })
    // A kind no domain describes: the subject stays the kernel's, not shown.
    expect(present({ runId: 'r', tenantId: 't', kind: 'noop', subjectId: 'x' })).toEqual({
      runId: 'r',
      tenantId: 't',
      kind: 'noop',
      botId: null,
      pipelineId: null,
    })
  })

  it('passes a payload stored before subjects (with botId) unchanged, and a damaged one as fields-less', () => {
    expect(present({ runId: 'r', tenantId: 't', kind: 'bot', botId: 'news' })).toMatchObject({
      botId: 'news',
    })
    expect(present('text')).toEqual({ botId: null, pipelineId: null })
    expect(present(null)).toEqual({ botId: null, pipelineId: null })
    expect(present([1, 2])).toEqual({ botId: null, pipelineId: null })
  })
})
