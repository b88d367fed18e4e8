import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'

// The API speaks JSON only: every other content type is refused with 415. An empty body with
// `Content-Type: application/json` counts as no body, because many HTTP clients send that header on
// a bodiless POST (cancel, retry) and refusing it would only surprise them.
//
// Before JSON.parse, and before any schema, one pass over the text refuses what no route can take:
// - nesting deeper than `maxJsonDepth` (400 `json_too_deep`): run inputs are `unknown`, and ~10,000
//   levels overflowed the stack of code that walks them (500);
// - a NUL character (`\u0000`) in any string or key (400 `validation_failed`, the field named):
//   PostgreSQL cannot store U+0000 in text and answered 500; SQLite stored it. Refused on both engines
//   alike, in every body, so no route has to remember it.
// A NUL in the URL (`%00` in a path or query value) is refused the same way, by `refuseNulInUrl`.

/** The deepest nesting of arrays and objects a body may have. The API's own bodies need 3. */
export const maxJsonDepth = 64

interface Scan {
  tooDeep: boolean
  hasNul: boolean
}

/**
 * One pass over JSON text: does it nest deeper than `maxDepth`, and does a string hold `\u0000`?
 * Malformed text is not judged here; JSON.parse reports it.
 */
export function scanJson(text: string, maxDepth = maxJsonDepth): Scan {
  let depth = 0
  let hasNul = false
  // The next backslash at or after the current position (-1: none left), found once per escape.
  let backslash = text.indexOf('\\')
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      // Inside a string: jump from escape to escape to its closing quote (native searches, not a loop).
      for (;;) {
        const quote = text.indexOf('"', i + 1)
        if (quote === -1) return { tooDeep: false, hasNul }
        if (backslash !== -1 && backslash < i + 1) backslash = text.indexOf('\\', i + 1)
        if (backslash === -1 || backslash > quote) {
          i = quote
          break
        }
        if (text.startsWith('u0000', backslash + 1)) hasNul = true
        // Skip the escaped character, so `\"` does not end the string.
        i = backslash + 1
        backslash = text.indexOf('\\', i + 1)
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return { tooDeep: true, hasNul }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--
  }
  return { tooDeep: false, hasNul }
}

/** The dotted path of the first string or key holding U+0000 (`input.items.2.text`), '' for the body itself. */
export function pathOfNul(value: unknown): string | undefined {
  const stack: Array<{ value: unknown; path: string[] }> = [{ value, path: [] }]
  while (stack.length > 0) {
    const { value: current, path } = stack.pop() as { value: unknown; path: string[] }
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return path.join('.')
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--)
        stack.push({ value: current[i], path: [...path, String(i)] })
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current)
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown]
        const shownKey = JSON.stringify(key).slice(1, -1)
        if (key.includes('\u0000')) return [...path, shownKey].join('.')
        stack.push({ value: child, path: [...path, shownKey] })
      }
    }
  }
  return undefined
}

const nulMessage = 'contains the NUL character (U+0000), which cannot be stored; remove it'

function nulRefusal(field: string, part: 'body' | 'URL'): AppError {
  const where = field === '' ? `The ${part}` : `The ${part} field ${field}`
  return new AppError('validation_failed', `${where} ${nulMessage}.`, 400, {
    errors: [{ field: field || part.toLowerCase(), message: nulMessage, code: 'nul_character' }],
  })
}

export function registerJsonOnly(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString()
    if (text.trim() === '') {
      done(null, undefined)
      return
    }
    const scan = scanJson(text)
    if (scan.tooDeep) {
      done(
        new AppError(
          'json_too_deep',
          `The JSON body nests arrays and objects deeper than ${maxJsonDepth} levels; send flatter data.`,
          400,
        ),
        undefined,
      )
      return
    }
    if (!scan.hasNul) {
      parseJson(request, text, done)
      return
    }
    parseJson(request, text, (error, parsed) => {
      if (error) return done(error, undefined)
      const field = pathOfNul(parsed)
      // `\\u0000` (an escaped backslash) looks like one to the scan but is no NUL.
      if (field === undefined) return done(null, parsed)
      done(nulRefusal(field, 'body'), undefined)
    })
  })
}

/**
 * Refuses `%00` anywhere in the URL with 400 before routing reaches a handler: a path parameter or
 * query value with U+0000 reached PostgreSQL, which answered 500. No id, cursor or filter has one.
 */
export function refuseNulInUrl(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const url = request.raw.url ?? ''
    if (url.includes('%00') || url.includes('\u0000')) {
      throw new AppError(
        'bad_url',
        'The URL contains an encoded NUL character (%00); no path or query value may contain it.',
        400,
      )
    }
  })
}
