import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../../test/app-harness.ts'

// Issue 11, item 14: /docs (Swagger UI) had no CSP and could be framed on the dashboard's origin —
// a page of another site could lay it under a transparent frame. Every answer under /docs now carries
// the docs UI's own CSP with frame-ancestors 'none', and X-Frame-Options DENY for old browsers.
// apps/web/e2e/untrusted-output.e2e.test.ts loads it in Chromium and checks for CSP violations.

const docsCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors 'none'"

describe('API docs UI (/docs)', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it("answers every docs path with the docs UI's CSP, frame-ancestors 'none' and X-Frame-Options DENY", async () => {
    t = await createTestApp('sqlite')
    const html = { accept: 'text/html' }
    const answers = {
      '/docs': 200,
      '/docs/': 200,
      '/docs/static/index.html': 302,
      '/docs/static/swagger-ui-bundle.js': 200,
      '/docs/static/swagger-ui.css': 200,
      '/docs/static/oauth2-redirect.html': 200,
      '/docs/json': 200,
      '/docs/yaml': 200,
      '/docs/static/nope.js': 404,
    }
    for (const [url, status] of Object.entries(answers)) {
      const response = await t.app.inject({ url, headers: html })
      expect({
        url,
        status: response.statusCode,
        csp: response.headers['content-security-policy'],
        frame: response.headers['x-frame-options'],
        nosniff: response.headers['x-content-type-options'],
      }).toEqual({ url, status, csp: docsCsp, frame: 'DENY', nosniff: 'nosniff' })
    }
    // Paths that only start like it are not the docs (and keep what they had).
    const other = await t.app.inject({ url: '/docsx', headers: html })
    expect(other.statusCode).toBe(404)
    expect(other.headers['content-security-policy']).not.toBe(docsCsp)
  })

  it('serves a docs page the CSP lets work: scripts and styles are files of this origin, none inline', async () => {
    t = await createTestApp('sqlite')
    const page = await t.app.inject({ url: '/docs/', headers: { accept: 'text/html' } })
    expect(page.statusCode).toBe(200)
    const scripts = [...page.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.map((m) => /src="([^"]+)"/.exec(m[1]!)?.[1])).toEqual([
      './static/swagger-ui-bundle.js',
      './static/swagger-ui-standalone-preset.js',
      './static/swagger-initializer.js',
    ])
    expect(scripts.map((m) => m[2]!.trim())).toEqual(['', '', ''])
    expect(page.body).not.toMatch(/<style|style="|https?:\/\//)
    const initializer = await t.app.inject({ url: '/docs/static/swagger-initializer.js' })
    expect(initializer.statusCode).toBe(200)
    // The validator badge would load an image from validator.swagger.io; it is off.
    expect(initializer.body).toContain('validatorUrl: null')
  })
})
