import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createTestApp,
  insertProviderRow,
  type TestApp,
  tableProviders,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'

describe.each(dialects)('bot reactions to run events on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect, { botProviders: tableProviders })
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
  })
  afterEach(async () => {
    await t.close()
  })

  it('pauses the schedule after pauseAfterFailures failed runs in a row and emits bot.paused', async () => {
    // The harness's table-only providers cannot call a model: every run of this bot fails.
    const bot = await t.bots.service.create('default', {
      name: 'Doomed',
      prompt: 'p',
      provider: 'openai',
      schedule: '@hourly',
      maxRetries: 0,
      pauseAfterFailures: 2,
    })
    t.startKernel()
    for (let i = 1; i <= 2; i++) {
      const result = await t.bots.service.runNow('default', bot.id, { trigger: 'manual' })
      if (result.status === 'dropped') throw new Error('unexpected drop')
      await waitFor(async () => (await t.kernel.runs.get('default', result.run.id)).status === 'failed', {
        what: `run ${i} to fail`,
      })
    }
    const paused = await waitFor(
      async () => {
        const current = await t.bots.service.get('default', bot.id)
        return current.enabled ? undefined : current
      },
      { what: 'the bot to be paused' },
    )
    expect(paused).toMatchObject({ enabled: false, nextRunAt: null, consecutiveFailures: 2 })
    expect(paused.pausedReason).toContain('2 runs failed in a row')
    const events = await t.database.db
      .selectFrom('run_events')
      .selectAll()
      .where('type', '=', 'bot.paused')
      .execute()
    expect(events).toHaveLength(1)
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ botId: bot.id, consecutiveFailures: 2 })
    // The audit trail says who paused it: the scheduler, a system actor.
    const audit = await t.app.inject({
      url: '/api/v1/audit?action=bot.paused',
      headers: bearer(t.keys.admin),
    })
    expect(audit.json().items).toEqual([
      expect.objectContaining({
        actor: { type: 'system', id: 'scheduler', role: null },
        target: { type: 'bots', id: bot.id },
        details: expect.objectContaining({ consecutiveFailures: 2 }),
      }),
    ])

    // Enabling again clears the pause and the count.
    const enabled = await t.bots.service.update('default', bot.id, { enabled: true })
    expect(enabled).toMatchObject({ enabled: true, pausedReason: null, consecutiveFailures: 0 })
    expect(enabled.nextRunAt).not.toBeNull()
  })
})
