import { describe, expect, it } from 'vitest'
import { parseTelegramHtml } from '../../../test/telegram-server.ts'
import { matchBot, type NamedBot, whichBot } from './telegram-commands.ts'

// The answers to a bot name that is ambiguous or unknown stay within one Telegram message (4,096
// characters, valid HTML) however many bots there are and however long their escaped names.

/** Names of the longest kind (100 characters), each `&` five characters once escaped. */
const bots: NamedBot[] = Array.from({ length: 60 }, (_, i) => ({
  id: `bot-${i}`,
  name: `${'&<'.repeat(45)} watch ${String(i).padStart(2, '0')}`,
}))

describe('telegram command answers', () => {
  it('lists the first bots that match and says how many more, within one message', () => {
    const matched = matchBot(bots, 'watch')
    if (!('ambiguous' in matched)) throw new Error('expected several bots')
    const text = whichBot('run', matched, bots)
    expect(text.length).toBeLessThanOrEqual(4_096)
    expect(parseTelegramHtml(text)).not.toHaveProperty('error')
    const shown = (text.match(/<b>[^<]*watch \d\d<\/b>/g) ?? []).length
    expect(shown).toBeGreaterThan(0)
    expect(shown).toBeLessThanOrEqual(10)
    expect(text).toContain(`and ${60 - shown} more — be more specific`)
  })

  it('names the bots there are when none matches, within one message', () => {
    const text = whichBot('run', { unknown: true }, bots)
    expect(text.length).toBeLessThanOrEqual(4_096)
    expect(parseTelegramHtml(text)).not.toHaveProperty('error')
    expect(text).toMatch(/and \d+ more\.$/)
  })

  it('lists a few matches in full', () => {
    const few = bots.slice(0, 3).map((bot, i) => ({ ...bot, name: `Sneaker watch ${i}` }))
    const matched = matchBot(few, 'sneaker')
    if (!('ambiguous' in matched)) throw new Error('expected several bots')
    expect(whichBot('pause', matched, few)).toBe(
      'Several bots match: <b>Sneaker watch 0</b>, <b>Sneaker watch 1</b>, <b>Sneaker watch 2</b>. Write more of the name, e.g. <code>/pause Sneaker watch 0</code>.',
    )
  })
})
