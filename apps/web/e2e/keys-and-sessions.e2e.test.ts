import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../server/test/kernel-harness.ts'
import { recordSecret } from '../../server/test/output-capture.ts'

// Issue 11, items 4 and 5 (decision 0017), end to end: changing the password names the personal
// keys it revokes before doing it; the Team page names each service key's creator, and disabling
// that person names the keys it revokes. A real server on SQLite, Debian's Chromium.

const chromiumPath = process.env.OPENORCH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = fs.existsSync(chromiumPath)
const repo = path.resolve(import.meta.dirname, '../../..')
const ownerKey = 'e2e-keys-owner-key-0123456789abcdef'
const olga = { email: 'olga@example.com', password: 'copper kettle under the northern bridge' }
const ada = { email: 'ada@example.com', password: 'seven quiet lanterns over the harbour' }
const adaNewPassword = 'violet tram over the quiet river'
for (const secret of [ownerKey, olga.password, ada.password, adaNewPassword]) recordSecret(secret)

describe.skipIf(!hasChromium)('keys that end with their person (Chromium, real server)', () => {
  let server: ChildProcess
  let browser: Browser
  let dataDir: string
  let url = ''
  let out = ''
  const problems: string[] = []

  beforeAll(async () => {
    const built = spawnSync(process.execPath, [path.join(repo, 'apps/web/scripts/build.mjs'), '--if-stale'], {
      encoding: 'utf8',
    })
    if (built.status !== 0) throw new Error(`dashboard build failed: ${built.stderr}`)
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-e2e-keys-'))
    server = spawn(process.execPath, [path.join(repo, 'apps/server/bin/openorch.mjs'), 'start'], {
      env: {
        ...process.env,
        OPENORCH_DATA_DIR: dataDir,
        OPENORCH_API_KEY: ownerKey,
        PORT: '0',
        HOST: '127.0.0.1',
        OPENORCH_LOG_LEVEL: 'warn',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server.stdout!.on('data', (chunk) => {
      out += chunk
    })
    server.stderr!.on('data', (chunk) => {
      out += chunk
    })
    await waitFor(() => /running at (http:\/\/\S+)/.exec(out)?.[1], { what: 'the server', timeoutMs: 30_000 })
    url = /running at (http:\/\/\S+)/.exec(out)![1]!
    for (const [person, role] of [
      [olga, 'owner'],
      [ada, 'admin'],
    ] as const) {
      const created = await api('POST', '/users', ownerKey, { ...person, role })
      expect(created.status).toBe(201)
    }
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server.once('exit', resolve))
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  function api(method: string, route: string, bearer?: string, body?: object) {
    return fetch(`${url}/api/v1${route}`, {
      method,
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
  }
  async function sessionOf(person: { email: string; password: string }): Promise<string> {
    const response = await api('POST', '/auth/login', undefined, person)
    expect(response.status).toBe(200)
    return ((await response.json()) as { accessToken: string }).accessToken
  }
  async function mint(route: '/auth/keys' | '/keys', bearer: string, name: string) {
    const response = await api('POST', route, bearer, { name, role: 'viewer' })
    expect(response.status).toBe(201)
    const created = (await response.json()) as { key: string; apiKey: { prefix: string } }
    recordSecret(created.key)
    return created
  }

  const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

  /** axe-core on the page as it is: no serious or critical violation. */
  async function checkA11y(page: Page, name: string) {
    await page.evaluate(axeSource)
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe
      return (await axe.run()).violations as { id: string; impact: string }[]
    })
    expect(
      violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id),
      `axe on ${name}`,
    ).toEqual([])
  }

  async function signedIn(person: { email: string; password: string }): Promise<Page> {
    const context = await browser.newContext({ baseURL: url, locale: 'en-GB' })
    await context.addInitScript(() => sessionStorage.setItem('openorch.onboarding.skipped', '1'))
    const page = await context.newPage()
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text()))
        problems.push(message.text())
    })
    page.on('pageerror', (error) => problems.push(error.message))
    await page.goto('/')
    await page.getByRole('heading', { name: 'Sign in to openOrchestrator' }).waitFor()
    await page.getByLabel('E-mail', { exact: true }).fill(person.email)
    await page.getByLabel('Password', { exact: true }).fill(person.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByTestId('account-menu').getByText(person.email, { exact: true }).waitFor()
    return page
  }

  it('names the personal keys a password change revokes, and the service keys disabling their creator revokes', async () => {
    // A personal key made with another session of Ada's (the "stolen" one), and a service key.
    const other = await sessionOf(ada)
    const stolen = await mint('/auth/keys', other, 'thief’s script')
    const service = await mint('/keys', other, 'nightly export')

    const page = await signedIn(ada)
    await page.goto('/account')
    await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    await page.getByTestId('keys-personal').getByText('thief’s script', { exact: true }).waitFor()
    await page.getByLabel('Current password').fill(ada.password)
    await page.getByLabel('New password').fill(adaNewPassword)
    await page.getByRole('button', { name: 'Change password' }).click()
    const dialog = page.getByRole('dialog', { name: 'Change your password and revoke your keys?' })
    await dialog.waitFor()
    expect(await dialog.getByTestId('keys-to-revoke').innerText()).toBe(
      `“thief’s script” (starts with ${stolen.apiKey.prefix}…)`,
    )
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel')
    await checkA11y(page, 'account with the password dialog')
    await dialog.getByRole('button', { name: 'Change password and revoke keys' }).click()
    await page.getByText('Your password is changed.', { exact: false }).waitFor()
    await page.getByTestId('keys-personal').getByRole('listitem').getByText('Revoked').waitFor()
    expect((await api('GET', '/bots', stolen.key)).status).toBe(401)
    // The service key Ada made is not personal: it goes on until Ada is disabled.
    expect((await api('GET', '/bots', service.key)).status).toBe(200)

    // The owner's Team page names the creator, and disabling Ada names the key that goes with her.
    const owner = await signedIn(olga)
    await owner.getByRole('link', { name: 'Team', exact: true }).first().click()
    const row = owner.getByTestId('keys-service').getByRole('listitem').filter({ hasText: 'nightly export' })
    await row.getByText(ada.email).waitFor()
    await owner.getByRole('button', { name: `Disable ${ada.email}` }).click()
    const disable = owner.getByRole('dialog', { name: `Disable ${ada.email}?` })
    await disable.waitFor()
    expect(await disable.getByTestId('keys-to-revoke').innerText()).toBe(
      `“nightly export” (starts with ${service.apiKey.prefix}…)`,
    )
    await checkA11y(owner, 'team with the disable dialog')
    await disable.getByRole('button', { name: 'Disable and revoke keys' }).click()
    await owner.getByText(`${ada.email} is disabled and signed out everywhere.`).waitFor()
    await row.getByText('Revoked').waitFor()
    expect((await api('GET', '/bots', service.key)).status).toBe(401)
    expect(problems).toEqual([])
  }, 120_000)
})
