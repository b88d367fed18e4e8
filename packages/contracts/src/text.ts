import { z } from 'zod'

// Text that people see in lists — names of bots, keys and workspaces, e-mail addresses — may not
// hide what it says. One rule for all of them, so the server refuses (400, the field named) what
// would make one name look like another or break a terminal, and PostgreSQL never meets a NUL
// (it cannot store U+0000 in text and answers an error).
//
// Refused: control characters (Cc: NUL, C0, DEL, C1 — a line break or tab too: a name is one line),
// format characters (Cf: bidi overrides and isolates U+202A–202E, U+2066–2069, marks U+200E/F and
// U+061C, zero-width U+200B–200D, U+2060, U+FEFF, the soft hyphen, tag characters), lone surrogates
// (Cs) and the line and paragraph separators U+2028/2029. Multi-line texts (prompts, descriptions,
// notes) keep their tabs and line breaks; only NUL is refused there, for every JSON body, by the
// server's body parser.

const unsafeInName = /[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/u

/** Bidi controls only: where a zero-width joiner is part of the text (an emoji sequence). */
const unsafeInSymbol = /[\p{Cc}\p{Cs}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029]/u

/** `U+202E`: a character as the Unicode chart names it, for messages a person reads. */
function codePointOf(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}

/** The first character `pattern` refuses in `text`, as `U+XXXX`, or undefined. */
export function firstUnsafeCharacter(text: string, pattern: RegExp = unsafeInName): string | undefined {
  const match = pattern.exec(text)
  return match ? codePointOf(match[0]) : undefined
}

/** Whether `text` is safe as a one-line name (no control, bidi-control or invisible character). */
export function isSafeName(text: string): boolean {
  return !unsafeInName.test(text)
}

function refuseUnsafe(pattern: RegExp) {
  return (text: string, ctx: z.core.$RefinementCtx<string>) => {
    const found = firstUnsafeCharacter(text, pattern)
    if (found)
      ctx.addIssue({
        code: 'custom',
        message: `must not contain control, bidi-control or invisible characters (found ${found})`,
      })
  }
}

/**
 * A one-line name people see in lists: trimmed, `min` to `max` characters, none of them a control,
 * bidi-control or invisible character.
 *
 * @example
 * const botName = nameText(1, 100)
 * botName.parse('eBay scout') // 'eBay scout'
 * botName.safeParse('evil\u202Egnp.exe').success // false
 */
export function nameText(min: number, max: number) {
  return z.string().trim().min(min).max(max).superRefine(refuseUnsafe(unsafeInName))
}

/**
 * An e-mail address as the API takes it (3 to 320 characters, no control, bidi-control or invisible
 * character). Sign-in uses it too: a refused address is a 400 before any database lookup.
 *
 * @example
 * emailText.parse('anna@example.com') // 'anna@example.com'
 */
export const emailText = z.string().trim().min(3).max(320).superRefine(refuseUnsafe(unsafeInName))

/**
 * A short symbol (an emoji): control and bidi-control characters are refused, a zero-width joiner
 * (part of emoji sequences such as 👩‍💻) is not.
 *
 * @example
 * symbolText(16).parse('👩‍💻') // '👩‍💻'
 */
export function symbolText(max: number) {
  return z.string().max(max).superRefine(refuseUnsafe(unsafeInSymbol))
}
