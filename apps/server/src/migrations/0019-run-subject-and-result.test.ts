import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, migrateTestDatabase, type TestDatabase } from '../../test/databases.ts'
import { botRunView } from '../bots/bot.run-view.ts'
import type { Db } from '../database.ts'
import type { DialectName } from '../platform/db/database.ts'
import { createQueue } from '../runs/kernel.ts'
import { toRun } from '../runs/run.mapper.ts'
import { runJsonOf } from '../runs/run-view.ts'

const now = Date.parse('2026-06-01T00:00:00Z')

function runRow(
  id: string,
  kind: string,
  botId: string | null,
  status: string,
  extra: Record<string, unknown> = {},
) {
  return {
    id,
    tenant_id: 'default',
    kind,
    bot_id: botId,
    status,
    trigger: 'api',
    run_at: now - 1000,
    attempt: status === 'pending' ? 0 : 1,
    max_attempts: 3,
    lease_token: 0,
    created_at: now - 1000,
    updated_at: now - 1000,
    ...extra,
  }
}

describe.each(dialects)('migration 0019 (run subject and result) on %s', (dialect: DialectName) => {
  let database: Db | undefined
  let testDatabase: TestDatabase | undefined
  afterEach(async () => {
    await database?.close()
    await testDatabase?.cleanup()
  })

  it("keeps every run's bot and results under the Run JSON's names, and the queue working", async () => {
    testDatabase = await createTestDatabase(dialect, { upTo: '0018-event-consumers' })
    database = await testDatabase.open()
    await database.db
      .insertInto('runs')
      .values([
        runRow('r-done', 'bot', 'news', 'completed', {
          output: '{"text":"Offer A"}',
          output_hash: 'ab12',
          is_new: 1,
          tokens_in: 812,
          tokens_out: 240,
          cost_usd: 0.0031,
          finished_at: now - 500,
        }),
        runRow('r-same', 'bot', 'news', 'completed', { output_hash: 'ab12', is_new: 0, tokens_in: 5 }),
        runRow('r-failed', 'bot', 'news', 'failed', { error_code: 'provider_error', error_message: 'x' }),
        runRow('r-pending', 'noop', null, 'pending'),
      ] as never)
      .execute()
    if (dialect === 'postgres')
      await database.db
        .insertInto('run_queue' as never)
        .values({
          id: 'r-pending',
          kind: 'noop',
          priority: 0,
          run_at: now - 1000,
          lease_token: 0,
          concurrency_limit: 1,
        } as never)
        .execute()

    await migrateTestDatabase(database)

    const rows = await database.db.selectFrom('runs').selectAll().orderBy('id').execute()
    const byId = new Map(rows.map((row) => [row.id, row]))
    expect(byId.get('r-done')).toMatchObject({ subject_id: 'news' })
    expect(JSON.parse(byId.get('r-done')!.result!)).toEqual({
      outputHash: 'ab12',
      isNew: true,
      tokensIn: 812,
      tokensOut: 240,
      costUsd: 0.0031,
    })
    expect(JSON.parse(byId.get('r-same')!.result!)).toMatchObject({
      outputHash: 'ab12',
      isNew: false,
      tokensIn: 5,
    })
    // No result where the run had none.
    expect(byId.get('r-failed')!.result).toBeNull()
    expect(byId.get('r-pending')).toMatchObject({ subject_id: null, result: null })
    expect(Object.keys(byId.get('r-done')!)).not.toEqual(
      expect.arrayContaining(['bot_id', 'output_hash', 'is_new', 'tokens_in', 'tokens_out', 'cost_usd']),
    )

    // The API shows them as before.
    const json = runJsonOf([botRunView])(toRun(byId.get('r-done')!))
    expect(json).toMatchObject({
      botId: 'news',
      outputHash: 'ab12',
      isNew: true,
      tokensIn: 812,
      tokensOut: 240,
      costUsd: 0.0031,
    })

    // The queue (on PostgreSQL its functions, rebuilt by the migration) claims and settles with a result.
    const queue = createQueue(database)
    const [claimed] = await queue.claim({ kinds: ['noop'], workerId: 'w', limit: 1, now, leaseMs: 60_000 })
    expect(claimed).toMatchObject({ id: 'r-pending', subject_id: null })
    const settled = await queue.settleAndClaim(
      [
        {
          id: 'r-pending',
          token: Number(claimed!.lease_token),
          outcome: 'completed',
          output: { ok: true },
          result: { anything: [1, 2] },
          durationMs: 5,
        },
      ],
      now + 10,
      { kinds: ['noop'], workerId: 'w', limit: 1, now: now + 10, leaseMs: 60_000 },
    )
    expect(settled.accepted).toEqual([true])
    const after = await database.db
      .selectFrom('runs')
      .selectAll()
      .where('id', '=', 'r-pending')
      .executeTakeFirst()
    expect(after).toMatchObject({ status: 'completed' })
    expect(JSON.parse(after!.result!)).toEqual({ anything: [1, 2] })
  })
})
