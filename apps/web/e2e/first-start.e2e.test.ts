import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../server/test/kernel-harness.ts'
import { recordSecret } from '../../server/test/output-capture.ts'

// Issue 11, "First start" and "Workspaces that can be created" (decision 0020), end to end: a new
// installation (no users) opens the sign-in page on its owner key and creates the first account
// with it; that owner, an installation admin, creates a second workspace and disables it; the second
// workspace's owner is then refused with words saying why. A real server on SQLite, Debian's Chromium.

const chromiumPath = process.env.OPENORCH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = fs.existsSync(chromiumPath)
const repo = path.resolve(import.meta.dirname, '../../..')
const ownerKey = 'e2e-first-start-owner-key-0123456789'
const firstEmail = 'olga@example.com'
const firstPassword = 'copper kettle under the northern bridge'
const acmeEmail = 'anna@acme.example'
const acmePassword = 'seven quiet lanterns over the harbour'
for (const secret of [ownerKey, firstPassword, acmePassword]) recordSecret(secret)

describe.skipIf(!hasChromium)('first start and workspaces (Chromium, real server)', () => {
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
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-e2e-first-'))
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

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ baseURL: url, locale: 'en-GB' })
    // No provider here: skip the onboarding wizard the dashboard would open first.
    await context.addInitScript(() => sessionStorage.setItem('openorch.onboarding.skipped', '1'))
    const page = await context.newPage()
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text()))
        problems.push(message.text())
    })
    page.on('pageerror', (error) => problems.push(error.message))
    return page
  }

  it('opens on the owner key without users, creates the first account with it, then manages workspaces', async () => {
    const page = await newPage()
    await page.goto('/')
    await page.getByRole('heading', { name: 'Create the first account' }).waitFor()
    expect(await page.getByLabel('Password', { exact: true }).count()).toBe(0)
    await checkA11y(page, 'first start')

    // A wrong key is refused in words; the printed one creates the account and signs it in.
    await page.getByLabel('Owner key', { exact: true }).fill('oo_wrong')
    await page.getByLabel('E-mail', { exact: true }).fill(firstEmail)
    await page.getByLabel('Your new password', { exact: true }).fill(firstPassword)
    await page.getByRole('button', { name: 'Create account and sign in' }).click()
    await page.getByRole('alert').getByText('This API key is not valid').waitFor()
    await page.getByLabel('Owner key', { exact: true }).fill(ownerKey)
    await page.getByRole('button', { name: 'Create account and sign in' }).click()
    await page.getByTestId('account-menu').getByText(firstEmail, { exact: true }).waitFor()

    // As an owner of the default workspace: the Workspaces page.
    await page.getByRole('link', { name: 'Workspaces' }).first().click()
    await page.getByRole('heading', { name: 'Workspaces', level: 1 }).waitFor()
    const list = page.getByTestId('workspaces')
    await list.getByText('Default workspace (default)').waitFor()
    expect(await list.getByText('The default workspace cannot be disabled.').count()).toBe(1)
    await checkA11y(page, 'workspaces')

    const form = page.getByRole('form', { name: 'Create a workspace' })
    await form.getByLabel('Name', { exact: true }).fill('Acme')
    await form.getByLabel('E-mail of its first owner').fill(acmeEmail)
    await form.getByLabel('Initial password of its first owner').fill('password1234')
    await form.getByRole('button', { name: 'Create workspace' }).click()
    await form.getByText('This password is refused').waitFor()
    await form.getByLabel('Initial password of its first owner').fill(acmePassword)
    await form.getByRole('button', { name: 'Create workspace' }).click()
    await form.getByText(`Workspace “Acme” was created. Hand ${acmeEmail} the initial password.`).waitFor()
    await list.getByText('Acme', { exact: true }).waitFor()

    await page.getByRole('button', { name: 'Disable Acme' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Disable workspace' }).click()
    await page
      .getByText('Acme is disabled: its keys and sessions are refused, its schedules stopped.')
      .waitFor()
    await list.getByText(/Disabled since/).waitFor()

    // Acme's owner is told why they cannot sign in.
    const acme = await newPage()
    await acme.goto('/')
    await acme.getByRole('heading', { name: 'Sign in to openOrchestrator' }).waitFor()
    await acme.getByLabel('E-mail', { exact: true }).fill(acmeEmail)
    await acme.getByLabel('Password', { exact: true }).fill(acmePassword)
    await acme.getByRole('button', { name: 'Sign in' }).click()
    await acme.getByRole('alert').getByText('This workspace is disabled.', { exact: false }).waitFor()

    await page.getByRole('button', { name: 'Enable Acme' }).click()
    await page.getByText('Acme is enabled again.').waitFor()
    await acme.getByRole('button', { name: 'Sign in' }).click()
    await acme.getByTestId('account-menu').getByText(acmeEmail, { exact: true }).waitFor()
    // Not an installation admin: no Workspaces page in Acme's menu.
    expect(await acme.getByRole('link', { name: 'Workspaces' }).count()).toBe(0)
    expect(problems).toEqual([])
  }, 120_000)
})
