import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, insertProviderRow, otherTenantId, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { latestRunsOf, recentRunsOf } from './bot.store.ts'

describe.each(dialects)('the runs shown on bot cards on %s', (dialect) => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('finds the latest run and the newest five of each bot, whatever the length of its history, in its tenant only', async () => {
    t = await createTestApp(dialect)
    const app = t
    await insertProviderRow(app.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const create = (name: string) =>
      app.bots.service.create('default', { name, description: '', prompt: 'Go.', provider: 'openai' })
    const [busy, quiet, idle] = [await create('Busy'), await create('Quiet'), await create('Idle')]
    const enqueue = async (botId: string, tenantId = 'default') => {
      const result = await app.kernel.runs.enqueue({
        tenantId,
        kind: 'bot',
        subjectId: botId,
        trigger: 'api',
      })
      if (result.status === 'dropped') throw new Error('dropped')
      return result.run.id
    }
    const busyRuns: string[] = []
    for (let i = 0; i < 8; i++) busyRuns.push(await enqueue(busy.id))
    const quietRun = await enqueue(quiet.id)
    // The same bot id in another tenant must not leak in.
    await enqueue(busy.id, otherTenantId)

    const ids = [busy.id, quiet.id, idle.id]
    const latest = await latestRunsOf(app.database.db, 'default', ids)
    expect(new Map(latest.map((r) => [r.bot_id, r.id]))).toEqual(
      new Map([
        [busy.id, busyRuns.at(-1)],
        [quiet.id, quietRun],
      ]),
    )
    const recent = await recentRunsOf(app.database.db, 'default', ids)
    const of = (botId: string) => recent.filter((r) => r.bot_id === botId).map((r) => r.id)
    expect(of(busy.id)).toEqual(busyRuns.slice(-5).reverse())
    expect(of(quiet.id)).toEqual([quietRun])
    expect(of(idle.id)).toEqual([])
    expect(recent).toHaveLength(6)
    expect(await recentRunsOf(app.database.db, 'default', [])).toEqual([])
  })
})
