import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { createLogger, redactQuery, redactUrl, wantsPrettyLogs } from './logger.ts'

// Issue 11: query strings were logged verbatim (a key put into a URL by mistake landed in the log),
// and logs on a terminal were raw JSON.

describe('credentials in paths', () => {
  it('redacts an inbound hook token and a Telegram webhook secret however the path is spelled (attack 14 F5)', () => {
    for (const url of [
      '/api/v1/hooks/ooh_SECRET',
      '/api/v1/hooks//ooh_SECRET',
      '/api/v1/HOOKS/ooh_SECRET',
      '/api/v1/Hooks/ooh_SECRET?x=1',
      '/api/v1/hooks%2Fooh_SECRET',
      '/api/v1/channels/c1/telegram/SECRET',
      '/api/v1/channels/c1/telegram//SECRET',
      '/api/v1/channels/c1/Telegram/SECRET',
    ])
      expect(redactUrl(url), url).not.toContain('SECRET')
    // The named Telegram routes are no secrets.
    expect(redactUrl('/api/v1/channels/c1/telegram/link-code')).toBe('/api/v1/channels/c1/telegram/link-code')
    expect(redactUrl('/api/v1/channels/telegram/discover-chats')).toBe(
      '/api/v1/channels/telegram/discover-chats',
    )
  })
})

describe('query strings in logs', () => {
  it('keeps the path and the parameter names, and the values only of a few harmless parameters', () => {
    expect(redactQuery('/api/v1/bots')).toBe('/api/v1/bots')
    expect(redactQuery('/api/v1/runs?limit=20&status=failed&api_key=sk-live-123&token=abc&flag')).toBe(
      '/api/v1/runs?limit=20&status=failed&api_key=[redacted]&token=[redacted]&flag',
    )
    expect(redactQuery('/api/v1/runs?q=my%20secret%20search')).toBe('/api/v1/runs?q=[redacted]')
    // Attack finding F5: a harmless name does not make any value harmless — the report's URLs.
    expect(redactQuery('/api/v1/runs?apiKey=S1&limit=5&limit=oo_SECRET')).toBe(
      '/api/v1/runs?apiKey=[redacted]&limit=5&limit=[redacted]',
    )
    expect(redactQuery('/api/v1/events?status=oo_SECRET')).toBe('/api/v1/events?status=[redacted]')
  })

  it('keeps a harmless parameter only with a value of the shape the API accepts', () => {
    const id = '01a23ee5-a887-7401-8f27-21e617d4314e'
    const kept = [
      'limit=200',
      'status=failed',
      'status=timeout',
      'trigger=schedule',
      'groupBy=model',
      `cursor=${id}`,
      'cursor=123456',
      'lastEventId=42',
    ]
    for (const pair of kept) expect(redactQuery(`/api/v1/x?${pair}`), pair).toBe(`/api/v1/x?${pair}`)
    const redacted = [
      'limit=1000',
      'limit=5%20',
      'limit=-1',
      'status=secretword',
      'status=FAILED',
      'trigger=oosecret',
      'groupBy=tenant',
      `cursor=${id}x`,
      'cursor=sk-proj-Zq81mXr2Lw9TbN4v',
      'lastEventId=1e3',
      'order=desc',
      'view=oosecretvalue',
    ]
    for (const pair of redacted)
      expect(redactQuery(`/api/v1/x?${pair}`), pair).toBe(`/api/v1/x?${pair.split('=')[0]}=[redacted]`)
    // A bare token or a name that is no plain word is a value too.
    expect(redactQuery('/api/v1/x?sk-live-Zq81mXr2Lw9TbN4v&flag&oo_ab12=1')).toBe(
      '/api/v1/x?[redacted]&flag&[redacted]',
    )
  })

  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('logs a request’s URL with its query redacted', async () => {
    const captured = createCapturingLog()
    t = await createTestApp('sqlite', { log: captured.log })
    const answer = await t.app.inject({
      url: '/api/v1/bots?limit=5&api_key=sk-put-in-the-url-by-mistake',
      headers: bearer(t.keys.viewer),
    })
    expect(answer.statusCode).toBe(200)
    const lines = captured.lines()
    const request = lines.find((line) =>
      (line.req as { url?: string } | undefined)?.url?.startsWith('/api/v1/bots'),
    )
    expect(request?.req).toMatchObject({ method: 'GET', url: '/api/v1/bots?limit=5&api_key=[redacted]' })
    expect(JSON.stringify(lines)).not.toContain('sk-put-in-the-url-by-mistake')
    // The report's unauthenticated request: its value never reaches a line either.
    const anonymous = await t.app.inject({ url: '/api/v1/events?status=oo_SECRET' })
    expect(anonymous.statusCode).toBe(401)
    const after = captured.lines()
    expect(after).toContainEqual(
      expect.objectContaining({ req: expect.objectContaining({ url: '/api/v1/events?status=[redacted]' }) }),
    )
    expect(JSON.stringify(after)).not.toContain('oo_SECRET')
  })
})

describe('logs for people and for machines', () => {
  it('is human-readable on a terminal and JSON otherwise, unless OPENORCH_PRETTY_LOGS says', () => {
    expect(wantsPrettyLogs(undefined, true)).toBe(true)
    expect(wantsPrettyLogs(undefined, false)).toBe(false)
    expect(wantsPrettyLogs(false, true)).toBe(false)
    expect(wantsPrettyLogs(true, false)).toBe(true)
  })

  it('the JSON logger writes one JSON object per line', () => {
    const lines: string[] = []
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk))
          done()
        },
      }),
    })
    log.info({ botId: 'b1' }, 'bot saved')
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: 'bot saved', botId: 'b1' })
  })
})
