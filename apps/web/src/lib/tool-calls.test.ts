import { describe, expect, it } from 'vitest'
import { argumentRows, type LogEntry, timelineOf, toolCallOfEvent, toolCallOfLogEntry } from './tool-calls.ts'

const at = '2030-03-05T09:30:00.000Z'
const line = (
  message: string,
  data: Record<string, unknown> | null = null,
  level: LogEntry['level'] = 'info',
) => ({ at, attempt: 1, level, message, data }) satisfies LogEntry

describe('tool calls of a run', () => {
  it('reads a finished call from its log line, with result preview, file and error', () => {
    expect(
      toolCallOfLogEntry(
        line('tool browser_screenshot completed', {
          tool: 'browser_screenshot',
          toolCallId: 'call_1',
          arguments: { url: 'https://shop.example' },
          durationMs: 812,
          resultChars: 40,
          result: '{"file":"shot-1.png"}',
          file: 'shot-1.png',
        }),
      ),
    ).toEqual({
      toolCallId: 'call_1',
      tool: 'browser_screenshot',
      status: 'completed',
      arguments: { url: 'https://shop.example' },
      durationMs: 812,
      resultChars: 40,
      result: '{"file":"shot-1.png"}',
      file: 'shot-1.png',
    })
    expect(
      toolCallOfLogEntry(
        line(
          'tool http_fetch failed',
          {
            tool: 'http_fetch',
            toolCallId: 'call_2',
            arguments: { url: 'http://169.254.169.254/' },
            durationMs: 3,
            error: { code: 'egress_refused', message: 'link-local address refused' },
          },
          'warn',
        ),
      ),
    ).toMatchObject({
      status: 'failed',
      error: { code: 'egress_refused', message: 'link-local address refused' },
    })
  })

  it('leaves other lines alone, also one that looks like a call but has no call id', () => {
    expect(toolCallOfLogEntry(line('tools done', { toolCalls: 2 }))).toBeUndefined()
    expect(toolCallOfLogEntry(line('tool http_fetch completed'))).toBeUndefined()
    expect(toolCallOfEvent({ toolCallId: 'c', tool: 't', toolStatus: 'parked' })).toBeUndefined()
  })

  it('puts calls inline, names the approval a run waits for, and adds live calls the log has not yet', () => {
    const log = [
      line('context built', { tokens: 812 }),
      line('tool files_read completed', {
        tool: 'files_read',
        toolCallId: 'a',
        arguments: { name: 'seen.json' },
      }),
      line('waiting for approval of files_delete', {
        approvalId: 'ap_1',
        tool: 'files_delete',
        toolCallId: 'b',
        arguments: { name: 'seen.json' },
      }),
    ]
    const live = [
      { toolCallId: 'a', tool: 'files_read', status: 'completed' as const, arguments: {} },
      {
        toolCallId: 'c',
        tool: 'http_fetch',
        status: 'started' as const,
        arguments: { url: 'https://x.example' },
      },
    ]
    const timeline = timelineOf(log, live)
    expect(timeline.map((item) => item.kind)).toEqual(['log', 'tool', 'approval', 'tool'])
    expect(timeline[2]).toMatchObject({ approvalId: 'ap_1', tool: 'files_delete' })
    expect(timeline[3]).toMatchObject({ call: { toolCallId: 'c', status: 'started' } })
  })

  it('shows flat arguments as name and value, and anything nested as JSON', () => {
    expect(argumentRows({ name: 'seen.json', force: true, limit: 3, note: null })).toEqual([
      ['name', 'seen.json'],
      ['force', 'true'],
      ['limit', '3'],
      ['note', 'null'],
    ])
    expect(argumentRows({ filter: { price: 40 } })).toBeUndefined()
    expect(argumentRows(['a'])).toBeUndefined()
    expect(argumentRows({})).toBeUndefined()
  })
})
