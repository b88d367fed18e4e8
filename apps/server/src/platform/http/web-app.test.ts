import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'

// The dashboard's build served at `/` beside the API (SQLite only: nothing here touches the database).
describe('dashboard files', () => {
  let root: string
  let t: TestApp
  const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-web-'))
    fs.mkdirSync(path.join(root, 'assets'))
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>openOrchestrator</title>')
    fs.writeFileSync(path.join(root, 'assets', 'index-abc123.js'), 'console.log(1)')
    fs.writeFileSync(path.join(root, 'manifest.webmanifest'), '{}')
  })
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
  beforeEach(async () => {
    t = await createTestApp('sqlite', { webRoot: root })
  })
  afterEach(async () => {
    await t.close()
  })

  it('serves index.html at / with a strict CSP, and hashed assets as immutable', async () => {
    const index = await t.app.inject({ url: '/', headers: html })
    expect(index.statusCode).toBe(200)
    expect(index.headers['content-type']).toContain('text/html')
    expect(index.body).toContain('<title>openOrchestrator</title>')
    expect(index.headers['content-security-policy']).toContain("script-src 'self'")
    expect(index.headers['cache-control']).toBe('no-cache')
    const asset = await t.app.inject({ url: '/assets/index-abc123.js' })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toContain('immutable')
  })

  it('answers a browser’s deep link with index.html (SPA fallback)', async () => {
    const deep = await t.app.inject({ url: '/bots/0190-abc?tab=runs', headers: html })
    expect(deep.statusCode).toBe(200)
    expect(deep.body).toContain('<title>openOrchestrator</title>')
  })

  it('keeps the API, docs and probes, and problem+json 404 for unknown API paths and non-HTML clients', async () => {
    const api = await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) })
    expect(api.statusCode).toBe(200)
    const unknownApi = await t.app.inject({ url: '/api/v1/nope', headers: html })
    expect(unknownApi.statusCode).toBe(404)
    expect(unknownApi.headers['content-type']).toContain('application/problem+json')
    expect(unknownApi.json()).toMatchObject({ code: 'route_not_found' })
    const apiRoot = await t.app.inject({ url: '/api', headers: html })
    expect(apiRoot.statusCode).toBe(404)
    const plain = await t.app.inject({ url: '/bots/1', headers: { accept: 'application/json' } })
    expect(plain.statusCode).toBe(404)
    expect(plain.json()).toMatchObject({ code: 'route_not_found' })
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(200)
    const docs = await t.app.inject({ url: '/docs', headers: html })
    expect(docs.statusCode).toBeLessThan(400)
    expect(docs.body).not.toContain('<title>openOrchestrator</title>')
    const post = await t.app.inject({ method: 'POST', url: '/bots', headers: html })
    expect(post.statusCode).toBe(404)
  })
})
