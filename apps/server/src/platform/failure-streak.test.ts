import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ManualClock } from './clock.ts'
import { FailureStreak } from './failure-streak.ts'

describe('a failure streak in the log', () => {
  it('logs the first failure, then one line per interval with the count, then the recovery', () => {
    const lines: Array<{ level: number; msg: string; failures: number }> = []
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const clock = new ManualClock()
    const streak = new FailureStreak(log, 'outbox relay', clock, 30_000)

    streak.succeeded() // nothing to report
    for (let i = 0; i < 100; i++) {
      streak.failed(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
      clock.advance(500) // 100 failures over 50 s
    }
    streak.succeeded()
    streak.succeeded()

    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'outbox relay failed; will try again'],
      [40, 'outbox relay still failing (61 times in a row); will try again'],
      [30, 'outbox relay works again after 100 failures'],
    ])
    // A new streak starts over.
    streak.failed(new Error('again'))
    expect(lines.at(-1)).toMatchObject({ level: 40, msg: 'outbox relay failed; will try again', failures: 1 })
  })
})
