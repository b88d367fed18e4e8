import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { dialects, useTestDatabase } from '../../test/databases.ts'
import { createTestKernel } from '../../test/kernel-harness.ts'
import { botRunsToKeep } from '../bots/bot.retention.ts'
import { pruneExpired } from './retention.ts'
import { appendRunLog } from './run-log.store.ts'

const day = 86_400_000
const now = Date.parse('2026-06-01T00:00:00Z')

describe.each(dialects)('run retention on %s', (dialect) => {
  const fixture = useTestDatabase(dialect)
  const db = () => fixture.database

  async function run(botId: string | null, status: string, finishedDaysAgo: number | null): Promise<string> {
    const kernel = createTestKernel(db())
    const result = await kernel.runs.enqueue({
      tenantId: 'default',
      kind: 'bot',
      trigger: 'api',
      subjectId: botId,
    })
    await kernel.bus.close()
    if (result.status === 'dropped') throw new Error('dropped')
    const id = result.run.id
    await db()
      .db.updateTable('runs')
      .set({ status, finished_at: finishedDaysAgo === null ? null : now - finishedDaysAgo * day })
      .where('id', '=', id)
      .execute()
    await appendRunLog(db().db, {
      tenantId: 'default',
      runId: id,
      attempt: 1,
      level: 'info',
      message: 'x',
      at: 0,
    })
    return id
  }

  it('prunes finished runs past the period with their logs, keeping each bot’s newest run and newest completed run', async () => {
    const oldCompleted = await run('scout', 'completed', 200)
    const lastCompleted = await run('scout', 'completed', 150)
    const lastFailed = await run('scout', 'failed', 120)
    const oldLoner = await run(null, 'failed', 100)
    const recent = await run('scout', 'completed', 10)
    const stillPending = await run(null, 'pending', null)
    const onlyRunOfOtherBot = await run('news', 'timeout', 300)
    // recent is now scout's newest run and newest completed run: lastCompleted and lastFailed lose their protection.
    const result = await pruneExpired(db(), now - 90 * day, botRunsToKeep, 2)
    const left = (await db().db.selectFrom('runs').select('id').execute()).map((r) => r.id).sort()
    expect(left).toEqual([recent, stillPending, onlyRunOfOtherBot].sort())
    expect(result.runs).toBe(4)
    const logs = (await db().db.selectFrom('run_logs').select('run_id').execute()).map((r) => r.run_id).sort()
    expect(logs).toEqual(left)
    expect([oldCompleted, lastCompleted, lastFailed, oldLoner].some((id) => left.includes(id))).toBe(false)
  })

  it('keeps the newest completed run of a bot (its memory) even when newer runs failed', async () => {
    const memory = await run('scout', 'completed', 200)
    const failed = await run('scout', 'failed', 150)
    await pruneExpired(db(), now - 90 * day, botRunsToKeep)
    const left = (await db().db.selectFrom('runs').select('id').execute()).map((r) => r.id).sort()
    expect(left).toEqual([memory, failed].sort())
  })

  it('prunes old outbox events only behind the relay cursor', async () => {
    await run(null, 'completed', 200)
    const events = await db().db.selectFrom('run_events').select(['id']).orderBy('id').execute()
    expect(events.length).toBeGreaterThan(0)
    await db()
      .db.updateTable('run_events')
      .set({ created_at: now - 200 * day })
      .execute()
    // An enqueue kicks the relay, which may have moved the cursor meanwhile: put it back at the start.
    await new Promise((resolve) => setTimeout(resolve, 50))
    await setCursor(0, '0')
    expect((await pruneExpired(db(), now - 90 * day, botRunsToKeep)).events).toBe(0)
    const lastTx =
      dialect === 'postgres'
        ? (await sql<{ tx: string }>`SELECT max(tx_id)::text AS tx FROM run_events`.execute(db().db)).rows[0]!
            .tx
        : '0'
    await setCursor(events.at(-1)!.id, lastTx)
    expect((await pruneExpired(db(), now - 90 * day, botRunsToKeep)).events).toBe(events.length)
  })

  async function setCursor(lastId: number, lastTx: string) {
    if (dialect === 'postgres')
      await sql`UPDATE event_cursors SET last_id = ${lastId}, last_tx = ${lastTx}::xid8`.execute(db().db)
    else await db().db.updateTable('event_cursors').set({ last_id: lastId }).execute()
  }
})
