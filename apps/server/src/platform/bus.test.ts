import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createBus, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import type { Bus } from './bus.ts'

describe.each(dialects)('message bus on %s', (dialect) => {
  let testDb: TestDatabase
  let database: Db
  let bus: Bus

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect)
    database = await testDb.open()
    bus = createBus(database)
    await bus.ready()
  })
  afterEach(async () => {
    await bus.close()
    await database.close()
    await testDb.cleanup()
  })

  it('delivers the messages of one publish in order, text as sent', async () => {
    const received: string[] = []
    bus.subscribe('events', (message) => received.push(message))
    // Quotes, backslashes, braces, commas and non-ASCII: what JSON events and error messages contain.
    const messages = ['[{"a":"x\\\\y"}]', 'plain', '{"message":"Größe: \\"zu groß\\", {a,b}"}', '']
    await bus.publish('events', ...messages)
    await bus.publish('events', 'after')
    await waitFor(() => received.length === messages.length + 1, { what: 'every message' })
    expect(received).toEqual([...messages, 'after'])
  })
})
