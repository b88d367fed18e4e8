import { describe, expect, it } from 'vitest'
import { dialects, useTestDatabase } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { appendAudit, verifyAudit } from '../audit/audit.store.ts'
import { botRunsToKeep } from '../bots/bot.retention.ts'
import { ManualClock } from '../platform/clock.ts'
import { RetentionJob } from './retention.job.ts'

const day = 86_400_000

describe.each(dialects)('retention job on %s', (dialect) => {
  const fixture = useTestDatabase(dialect)
  const db = () => fixture.database

  it('prunes audit entries past their own period (a year by default) and keeps the chain verifiable', async () => {
    const now = Date.parse('2027-06-01T00:00:00Z')
    const at = (daysAgo: number) => now - daysAgo * day
    for (const daysAgo of [400, 380, 200, 1])
      await appendAudit(db(), [
        {
          tenant_id: 'default',
          at: at(daysAgo),
          actor_type: 'system',
          actor_id: null,
          actor_role: null,
          action: `${daysAgo} days ago`,
          target_type: null,
          target_id: null,
          ip: null,
          request_id: null,
          status: null,
          details: null,
        },
      ])
    const job = new RetentionJob({
      database: db(),
      clock: new ManualClock(now),
      log: testLog,
      runsMs: 90 * day,
      auditMs: 365 * day,
      keepers: botRunsToKeep,
    })
    expect(await job.runOnce()).toEqual({ runs: 0, events: 0, deadLetters: 0, audit: 2 })
    const left = await db().db.selectFrom('audit_log').select('action').orderBy('id').execute()
    expect(left.map((r) => r.action)).toEqual(['200 days ago', '1 days ago'])
    expect(await verifyAudit(db())).toMatchObject({ ok: true, entries: 2 })
    expect(await job.runOnce()).toEqual({ runs: 0, events: 0, deadLetters: 0, audit: 0 })
  })

  it('prunes parked events past the runs retention, retried or not', async () => {
    const now = Date.parse('2027-06-01T00:00:00Z')
    for (const [consumer, daysAgo] of [
      ['bots', 120],
      ['bots', 91],
      ['bots', 10],
    ] as const)
      await db()
        .db.insertInto('event_dead_letters')
        .values({
          consumer,
          event_id: daysAgo,
          tenant_id: 'default',
          run_id: `r-${daysAgo}`,
          type: 'run.failed',
          payload: '{}',
          event_created_at: now - daysAgo * day,
          error: 'downstream refused',
          attempts: 5,
          parked_at: now - daysAgo * day,
          retry_requested_at: daysAgo === 91 ? now - 80 * day : null,
        })
        .execute()
    const job = new RetentionJob({
      database: db(),
      clock: new ManualClock(now),
      log: testLog,
      runsMs: 90 * day,
      auditMs: 365 * day,
      keepers: botRunsToKeep,
    })
    expect(await job.runOnce()).toMatchObject({ deadLetters: 2 })
    const left = await db().db.selectFrom('event_dead_letters').select('run_id').execute()
    expect(left).toEqual([{ run_id: 'r-10' }])
  })
})
