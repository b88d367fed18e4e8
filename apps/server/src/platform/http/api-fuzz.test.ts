import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { maxJsonDepth } from './body-parser.ts'

// Issue 5: requests derived from the OpenAPI document, mangled — random JSON bodies, hostile query
// values, odd path parameters — must never produce a 5xx, and every error must be problem+json.
// Issue 11 item 16: NUL, control, bidi-control and zero-width characters and deeply nested JSON, on
// both engines (PostgreSQL cannot store U+0000 in text and answered 500).

interface Operation {
  method: string
  path: string
  query: string[]
  hasBody: boolean
}

const hostileStrings = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '1e309',
    'NaN',
    'null',
    '[]',
    '{}',
    '../../etc/passwd',
    '%00',
    '💥',
    'a'.repeat(5000),
    '\u0000',
    'a\u0000b',
    '\u001b[31mred',
    'a\u0085b',
    'line\nbreak',
    'invoice\u202Efdp.exe',
    'a\u2066b\u2069',
    'ad\u200Bmin',
    '\uFEFFx',
    'a\uD800b',
  ),
)

/** `[[[…1…]]]`: `depth` levels of arrays. */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`

describe.each(dialects)('API fuzz from the OpenAPI document on %s', (dialect) => {
  let t: TestApp
  let operations: Operation[]
  let botId: string

  beforeAll(async () => {
    // Room for the many refused sign-ins below (the per-address sign-in limit comes before validation).
    t = await createTestApp(dialect, {
      rateLimits: {
        perKeyPerMinute: 100_000,
        perTenantPerMinute: 100_000,
        signInPerAddressPerMinute: 10_000,
      },
    })
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    botId = (await t.bots.service.create('default', { name: 'Fuzz', prompt: 'p', provider: 'openai' })).id
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<string, { parameters?: Array<{ in: string; name: string }>; requestBody?: unknown }>
      >
    }
    operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/api/v1/') && path !== '/api/v1/events')
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({
          method: method.toUpperCase(),
          path,
          query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
          hasBody: op.requestBody !== undefined,
        })),
      )
  })
  afterAll(async () => {
    await t.close()
  })

  it('answers every mangled request without a 5xx, and every error as problem+json', async () => {
    expect(operations.length).toBeGreaterThan(20)
    for (const op of operations) {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            body: fc.oneof(
              fc.jsonValue({ maxDepth: 4 }),
              fc.dictionary(hostileStrings, fc.jsonValue({ maxDepth: 2 })),
              fc.dictionary(fc.constantFrom('name', 'email', 'prompt', 'input', 'content'), hostileStrings),
              fc.constant(JSON.parse(nested(maxJsonDepth + 1))),
            ),
            query: fc.dictionary(
              fc.constantFrom(...op.query, 'limit', 'cursor', '__proto__'),
              hostileStrings,
              { maxKeys: 4 },
            ),
            id: fc.oneof(
              fc.constant(botId),
              // A lone surrogate cannot be %-encoded into a path at all (URIError in the client).
              hostileStrings.filter((s) => s.length > 0 && !/[\uD800-\uDFFF]/.test(s)),
            ),
          }),
          async ({ body, query, id }) => {
            const url = new URL(
              `http://x${op.path.replace('{id}', encodeURIComponent(id)).replace('{name}', encodeURIComponent(id))}`,
            )
            for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value)
            const response = await t.app.inject({
              method: op.method as 'GET',
              url: `${url.pathname}${url.search}`,
              headers: {
                ...bearer(t.keys.owner),
                ...(op.hasBody ? { 'content-type': 'application/json' } : {}),
              },
              ...(op.hasBody ? { payload: JSON.stringify(body) } : {}),
            })
            const where = `${op.method} ${url.pathname}${url.search}`
            expect(response.statusCode, where).toBeLessThan(500)
            if (response.statusCode >= 400)
              expect(response.headers['content-type'], where).toContain('application/problem+json')
          },
        ),
        { numRuns: 12 },
      )
    }
  }, 120_000)

  it('rejects prototype-polluting keys and deeply nested JSON with 400 problem+json', async () => {
    for (const payload of [
      '{"__proto__":{"role":"owner"},"name":"x","prompt":"p","provider":"openai"}',
      '{"constructor":{"prototype":{"admin":true}},"name":"x","prompt":"p","provider":"openai"}',
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
    ]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/bots',
        headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
        payload,
      })
      expect(response.statusCode, payload.slice(0, 40)).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
    }
    expect(({} as Record<string, unknown>).role).toBeUndefined()
  })

  it('answers router-level refusals as problem+json too: a broken %-encoding, an overlong path part', async () => {
    const broken = await t.app.inject({ url: '/api/v1/runs/%E0%A4%A', headers: bearer(t.keys.owner) })
    expect(broken.statusCode).toBe(400)
    expect(broken.headers['content-type']).toBe('application/problem+json')
    expect(broken.json().code).toBe('bad_url')
    const long = await t.app.inject({
      url: `/api/v1/runs/${'a'.repeat(1500)}`,
      headers: bearer(t.keys.owner),
    })
    expect(long.statusCode).toBe(414)
    expect(long.json().code).toBe('uri_too_long')
  })

  async function send(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    body?: unknown,
    key = t.keys.owner,
  ) {
    return t.app.inject({
      method,
      url,
      headers: {
        ...(key ? bearer(key) : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    })
  }

  const password = 'a long passphrase of my own 42'
  const unsafe = (codePoint: string) =>
    `must not contain control, bidi-control or invisible characters (found ${codePoint})`

  it('refuses NUL in a bot name, a key name, a user e-mail and the anonymous sign-in e-mail with 400, naming the field', async () => {
    const cases: Array<[string, 'POST', string, Record<string, unknown>, string]> = [
      ['bot name', 'POST', '/api/v1/bots', { name: 'a\u0000b', prompt: 'p', provider: 'openai' }, 'name'],
      ['key name', 'POST', '/api/v1/keys', { name: 'a\u0000b', role: 'viewer' }, 'name'],
      [
        'user e-mail',
        'POST',
        '/api/v1/users',
        { email: 'a\u0000b@example.com', password, role: 'viewer' },
        'email',
      ],
      ['sign-in e-mail', 'POST', '/api/v1/auth/login', { email: 'a\u0000b@example.com', password }, 'email'],
      [
        'workspace owner e-mail',
        'POST',
        '/api/v1/workspaces',
        { name: 'Acme', owner: { email: 'a\u0000b@example.com', password } },
        'owner.email',
      ],
    ]
    for (const [what, method, url, body, field] of cases) {
      const response = await send(method, url, body, what === 'sign-in e-mail' ? '' : t.keys.owner)
      expect(response.statusCode, what).toBe(400)
      expect(response.headers['content-type'], what).toBe('application/problem+json')
      expect(response.json(), what).toMatchObject({
        code: 'validation_failed',
        detail: `The body field ${field} contains the NUL character (U+0000), which cannot be stored; remove it.`,
        errors: [
          {
            field,
            code: 'nul_character',
            message: 'contains the NUL character (U+0000), which cannot be stored; remove it',
          },
        ],
      })
    }
  })

  it('refuses control, bidi-control and zero-width characters in names and e-mails with 400, naming field and character', async () => {
    const cases: Array<[string, string, (text: string) => Record<string, unknown>, string, boolean?]> = [
      ['bot name', '/api/v1/bots', (name) => ({ name, prompt: 'p', provider: 'openai' }), 'name'],
      ['key name', '/api/v1/keys', (name) => ({ name, role: 'viewer' }), 'name'],
      ['personal key name', '/api/v1/auth/keys', (name) => ({ name, role: 'viewer' }), 'name'],
      [
        'user e-mail',
        '/api/v1/users',
        (text) => ({ email: `${text}@example.com`, password, role: 'viewer' }),
        'email',
      ],
      [
        'sign-in e-mail',
        '/api/v1/auth/login',
        (text) => ({ email: `${text}@example.com`, password }),
        'email',
        true,
      ],
      [
        'workspace name',
        '/api/v1/workspaces',
        (name) => ({ name, owner: { email: 'w@example.com', password } }),
        'name',
      ],
    ]
    const characters: Array<[string, string]> = [
      ['invoice\u202Efdp.exe', 'U+202E'],
      ['a\u202Ab', 'U+202A'],
      ['a\u2066b\u2069', 'U+2066'],
      ['ad\u200Bmin', 'U+200B'],
      ['a\u200Fb', 'U+200F'],
      ['ad\uFEFFmin', 'U+FEFF'],
      ['a\u2060b', 'U+2060'],
      ['a\u001b[31mb', 'U+001B'],
      ['a\u0085b', 'U+0085'],
      ['a\nb', 'U+000A'],
    ]
    for (const [what, url, bodyOf, field, anonymous] of cases) {
      for (const [text, codePoint] of characters) {
        // Personal keys belong to people: a dashboard session would be needed; the refusal comes first.
        const response = await send('POST', url, bodyOf(text), anonymous ? '' : t.keys.owner)
        expect(response.statusCode, `${what} ${codePoint}`).toBe(400)
        const problem = response.json()
        expect(problem.code, `${what} ${codePoint}`).toBe('validation_failed')
        expect(problem.errors, `${what} ${codePoint}`).toEqual([{ field, message: unsafe(codePoint) }])
      }
    }
    // What a name may hold: letters of any script, accents, emoji, inner spaces.
    const fine = await send('POST', '/api/v1/bots', {
      name: 'Über-Bot 🤖 価格',
      prompt: 'p',
      provider: 'openai',
    })
    expect(fine.statusCode).toBe(201)
    expect(fine.json().name).toBe('Über-Bot 🤖 価格')
  })

  // The fuzz above may have deleted the shared bot: each test below makes its own.
  const newBot = async (name: string) =>
    (await t.bots.service.create('default', { name, prompt: 'p', provider: 'openai' })).id

  it('refuses NUL in prompts, descriptions, notes and run inputs with 400; they keep tabs and line breaks', async () => {
    const botId = await newBot('Multi-line')
    const nulIn: Array<[string, 'POST' | 'PUT' | 'PATCH', string, unknown, string]> = [
      ['prompt', 'POST', '/api/v1/bots', { name: 'N', prompt: 'p\u0000', provider: 'openai' }, 'prompt'],
      ['description', 'PATCH', `/api/v1/bots/${botId}`, { description: 'x\u0000' }, 'description'],
      ['note', 'PUT', `/api/v1/bots/${botId}/notes/n1`, { content: 'x\u0000y' }, 'content'],
      [
        'run input',
        'POST',
        `/api/v1/bots/${botId}/runs`,
        { input: { items: ['ok', { text: 'x\u0000' }] } },
        'input.items.1.text',
      ],
      [
        'a key of the run input',
        'POST',
        `/api/v1/bots/${botId}/runs`,
        { input: { 'k\u0000': 1 } },
        'input.k\\u0000',
      ],
    ]
    for (const [what, method, url, body, field] of nulIn) {
      const response = await send(method, url, body)
      expect(response.statusCode, what).toBe(400)
      expect(response.json().errors, what).toEqual([
        {
          field,
          code: 'nul_character',
          message: 'contains the NUL character (U+0000), which cannot be stored; remove it',
        },
      ])
    }
    // An escaped backslash before `u0000` is text, not a NUL.
    const literal = await send('POST', `/api/v1/bots/${botId}/runs`, '{"input":"C:\\\\u0000"}')
    expect(literal.statusCode).toBe(202)
    expect(literal.json().input).toBe('C:\\u0000')

    const multiLine = 'Line one\n\tindented\r\nline three'
    const patched = await send('PATCH', `/api/v1/bots/${botId}`, {
      description: multiLine,
      prompt: multiLine,
    })
    expect(patched.statusCode).toBe(200)
    expect(patched.json()).toMatchObject({ description: multiLine, prompt: multiLine })
    const note = await send('PUT', `/api/v1/bots/${botId}/notes/n1`, { content: multiLine })
    expect(note.statusCode).toBe(200)
    expect(note.json().content).toBe(multiLine)
  })

  it(`refuses JSON nested deeper than ${maxJsonDepth} levels with 400 json_too_deep, before any schema`, async () => {
    const botId = await newBot('Deep')
    // The body object is one level; its input fills the rest.
    const atLimit = await send('POST', `/api/v1/bots/${botId}/runs`, `{"input":${nested(maxJsonDepth - 1)}}`)
    expect(atLimit.statusCode).toBe(202)
    for (const [what, payload] of [
      ['one level too deep', `{"input":${nested(maxJsonDepth)}}`],
      ['~4,000 levels of arrays', `{"input":${nested(4000)}}`],
      ['~4,000 levels of objects', `{"input":${'{"a":'.repeat(4000)}1${'}'.repeat(4000)}}`],
      ['100,000 levels', `{"input":${nested(100_000)}}`],
    ] as const) {
      const response = await send('POST', `/api/v1/bots/${botId}/runs`, payload)
      expect(response.statusCode, what).toBe(400)
      expect(response.headers['content-type'], what).toBe('application/problem+json')
      expect(response.json(), what).toMatchObject({
        code: 'json_too_deep',
        detail: `The JSON body nests arrays and objects deeper than ${maxJsonDepth} levels; send flatter data.`,
      })
    }
    // Brackets inside strings are text.
    const inString = await send('POST', `/api/v1/bots/${botId}/runs`, { input: '['.repeat(1000) })
    expect(inString.statusCode).toBe(202)
  })

  it('refuses %00 in a path or query value with 400 bad_url', async () => {
    for (const url of [
      '/api/v1/runs?botId=%00',
      '/api/v1/runs/%00',
      `/api/v1/bots/a%00b`,
      '/api/v1/audit?actorId=%00',
      '/api/v1/runs?cursor=x%00',
    ]) {
      const response = await send('GET', url)
      expect(response.statusCode, url).toBe(400)
      expect(response.json(), url).toMatchObject({
        code: 'bad_url',
        detail: 'The URL contains an encoded NUL character (%00); no path or query value may contain it.',
      })
    }
    // A literal "%00" in a value (sent as %2500) is text and answers as usual.
    expect((await send('GET', '/api/v1/runs?botId=%2500')).statusCode).toBe(200)
  })
})
