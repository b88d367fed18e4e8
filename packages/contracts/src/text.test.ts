import { describe, expect, it } from 'vitest'
import { emailText, firstUnsafeCharacter, nameText, symbolText } from './text.ts'

const name = nameText(1, 100)

describe('names and e-mails people see in lists', () => {
  it.each([
    ['NUL', 'a\u0000b', 'U+0000'],
    ['a C0 control (ESC)', 'a\u001b[31mb', 'U+001B'],
    ['a line break', 'a\nb', 'U+000A'],
    ['a tab', 'a\tb', 'U+0009'],
    ['DEL', 'a\u007fb', 'U+007F'],
    ['a C1 control', 'a\u0085b', 'U+0085'],
    ['a right-to-left override', 'invoice\u202Efdp.exe', 'U+202E'],
    ['a left-to-right embedding', 'a\u202Ab', 'U+202A'],
    ['a first-strong isolate', 'a\u2068b', 'U+2068'],
    ['a pop-directional isolate', 'a\u2069b', 'U+2069'],
    ['a right-to-left mark', 'a\u200Fb', 'U+200F'],
    ['an Arabic letter mark', 'a\u061Cb', 'U+061C'],
    ['a zero-width space', 'ad\u200Bmin', 'U+200B'],
    ['a zero-width joiner', 'a\u200Db', 'U+200D'],
    ['a word joiner', 'a\u2060b', 'U+2060'],
    ['a byte-order mark', 'ad\uFEFFmin', 'U+FEFF'],
    ['a soft hyphen', 'ad\u00ADmin', 'U+00AD'],
    ['a line separator', 'a\u2028b', 'U+2028'],
    ['a lone surrogate', 'a\uD800b', 'U+D800'],
  ])('refuses %s in a name and an e-mail, naming the character', (_what, text, codePoint) => {
    const refused = name.safeParse(text)
    expect(refused.success).toBe(false)
    expect(refused.error?.issues[0]?.message).toBe(
      `must not contain control, bidi-control or invisible characters (found ${codePoint})`,
    )
    expect(emailText.safeParse(`${text}@example.com`).success).toBe(false)
    expect(firstUnsafeCharacter(text)).toBe(codePoint)
  })

  it('keeps letters of every script, emoji, accents and inner spaces; trims the ends', () => {
    for (const text of [
      'eBay scout',
      'Über-Bot ✓',
      'مراقب الأسعار',
      '価格ウォッチ',
      '🤖 Scout',
      'Zoë (test) #2',
    ])
      expect(name.parse(text)).toBe(text)
    expect(name.parse('  padded  ')).toBe('padded')
    expect(emailText.parse(' anna@example.com ')).toBe('anna@example.com')
    expect(name.safeParse('   ').success).toBe(false)
  })

  it('lets a symbol keep its zero-width joiner but not a bidi control or a control character', () => {
    const symbol = symbolText(16)
    expect(symbol.parse('👩\u200D💻')).toBe('👩\u200D💻')
    expect(symbol.parse('❤️')).toBe('❤️')
    expect(symbol.safeParse('\u202E🤖').success).toBe(false)
    expect(symbol.safeParse('🤖\u0000').success).toBe(false)
  })
})
