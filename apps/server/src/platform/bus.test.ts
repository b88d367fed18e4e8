import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { dialects, useTestDatabase } from '../../test/databases.ts'
import { createBus, waitFor } from '../../test/kernel-harness.ts'
import type { Bus } from './bus.ts'

describe.each(dialects)('message bus on %s', (dialect) => {
  const t = useTestDatabase(dialect)
  let bus: Bus

  beforeEach(async () => {
    bus = createBus(t.database)
    await bus.ready()
  })
  // Runs before useTestDatabase's (after-hooks run in reverse order).
  afterEach(() => bus.close())

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
