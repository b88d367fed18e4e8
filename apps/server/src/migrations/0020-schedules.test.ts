import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, migrateTestDatabase, type TestDatabase } from '../../test/databases.ts'
import type { Db } from '../database.ts'
import type { DialectName } from '../platform/db/database.ts'

const now = Date.parse('2026-06-01T00:00:00Z')

function botRow(id: string, schedule: string | null, enabled: number, next: number | null) {
  return {
    id,
    tenant_id: 'default',
    name: id,
    description: '',
    prompt: 'p',
    provider: 'openai',
    model: 'gpt-4o-mini',
    schedule,
    timezone: 'Europe/Berlin',
    enabled,
    max_runtime_seconds: 60,
    max_retries: 0,
    retry_delay_seconds: 1,
    missed_run_policy: 'catch_up_one',
    overlap_policy: 'buffer_one',
    jitter_seconds: 30,
    consecutive_failures: 0,
    next_slot_at: next,
    next_fire_at: next === null ? null : next + 7_000,
    created_at: now,
    updated_at: now,
  }
}

describe.each(dialects)('migration 0020 (schedules) on %s', (dialect: DialectName) => {
  let database: Db | undefined
  let testDatabase: TestDatabase | undefined
  afterEach(async () => {
    await database?.close()
    await testDatabase?.cleanup()
  })

  it("moves every bot's schedule and its next slot into the schedules table", async () => {
    testDatabase = await createTestDatabase(dialect, { upTo: '0019-run-subject-and-result' })
    database = await testDatabase.open()
    await database.db
      .insertInto('bots')
      .values([
        botRow('b-on', '*/5 * * * *', 1, now + 300_000),
        botRow('b-off', '@every 1h', 0, null),
        botRow('b-none', null, 1, null),
      ] as never)
      .execute()

    await migrateTestDatabase(database)

    const rows = await database.db.selectFrom('schedules').selectAll().orderBy('owner_id').execute()
    expect(
      rows.map((row) => ({
        ...row,
        next_slot_at: row.next_slot_at === null ? null : Number(row.next_slot_at),
        next_fire_at: row.next_fire_at === null ? null : Number(row.next_fire_at),
        updated_at: Number(row.updated_at),
      })),
    ).toEqual([
      {
        owner_kind: 'bot',
        owner_id: 'b-off',
        tenant_id: 'default',
        spec: '@every 1h',
        timezone: 'Europe/Berlin',
        jitter_seconds: 30,
        missed_policy: 'catch_up_one',
        overlap_policy: 'buffer_one',
        next_slot_at: null,
        next_fire_at: null,
        updated_at: now,
      },
      {
        owner_kind: 'bot',
        owner_id: 'b-on',
        tenant_id: 'default',
        spec: '*/5 * * * *',
        timezone: 'Europe/Berlin',
        jitter_seconds: 30,
        missed_policy: 'catch_up_one',
        overlap_policy: 'buffer_one',
        // The slot it was going to fire next, jitter and all: nothing skipped, nothing repeated.
        next_slot_at: now + 300_000,
        next_fire_at: now + 307_000,
        updated_at: now,
      },
    ])
    const bot = await database.db
      .selectFrom('bots')
      .selectAll()
      .where('id', '=', 'b-on')
      .executeTakeFirstOrThrow()
    expect(bot).not.toHaveProperty('next_fire_at')
    expect(bot).not.toHaveProperty('next_slot_at')
  })
})
