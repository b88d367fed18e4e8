import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { cruise, type IReporterOutput } from 'dependency-cruiser'
import { afterAll, describe, expect, it } from 'vitest'

// The import rules of .dependency-cruiser.cjs (decision 0026) fail on a planted violation — planted in a
// temporary copy of the layout, never in the tree — and the real tree passes them.

const root = path.resolve(import.meta.dirname, '../../..')
const require = createRequire(import.meta.url)
const config = require(path.join(root, '.dependency-cruiser.cjs')) as {
  forbidden: Array<{ name: string }>
  options: { exclude: { path: string } }
}

async function violationsIn(
  baseDir: string,
  paths: string[],
): Promise<Array<{ rule: string; from: string; to: string }>> {
  const result: IReporterOutput = await cruise(paths, {
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden } as never,
    tsPreCompilationDeps: true,
    exclude: config.options.exclude,
  })
  if (typeof result.output === 'string') throw new Error('expected a cruise result')
  return result.output.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }))
}

describe('import boundaries', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-boundaries-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const plant = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }

  it('fails on a planted violation of each rule', async () => {
    plant('apps/server/src/bots/bot.store.ts', 'export const countBots = 1\n')
    plant('apps/server/src/bots/bots.ts', "export { countBots } from './bot.store.ts'\n")
    // The kernel importing a domain, and a domain reading another's store.
    plant(
      'apps/server/src/runs/worker.ts',
      "import { countBots } from '../bots/bots.ts'\nexport const n = countBots\n",
    )
    plant(
      'apps/server/src/quotas/quota.routes.ts',
      "import { countBots } from '../bots/bot.store.ts'\nexport const n = countBots\n",
    )
    // Going through the domain's public module is fine.
    plant(
      'apps/server/src/usage/usage.routes.ts',
      "import { countBots } from '../bots/bots.ts'\nexport const n = countBots\n",
    )
    plant(
      'apps/server/src/platform/config.ts',
      "import { n } from '../quotas/quota.routes.ts'\nexport const m = n\n",
    )
    // Bots use quotas and quotas use bots: each file is fine alone, the two folders form a cycle.
    plant('apps/server/src/quotas/quotas.ts', 'export const limit = 1\n')
    plant(
      'apps/server/src/bots/bot.service.ts',
      "import { limit } from '../quotas/quotas.ts'\nexport const l = limit\n",
    )
    plant('apps/server/src/users/a.ts', "import { b } from './b.ts'\nexport const a = b\n")
    plant('apps/server/src/users/b.ts', "import { a } from './a.ts'\nexport const b = a\n")
    plant(
      'apps/web/src/page.ts',
      "import { n } from '../../server/src/quotas/quota.routes.ts'\nexport const p = n\n",
    )
    const found = await violationsIn(dir, ['apps'])
    const rules = (name: string) => found.filter((v) => v.rule === name).map((v) => `${v.from} → ${v.to}`)
    expect(rules('kernel-imports-no-domain')).toEqual([
      'apps/server/src/runs/worker.ts → apps/server/src/bots/bots.ts',
    ])
    expect(rules('no-foreign-store')).toEqual([
      'apps/server/src/quotas/quota.routes.ts → apps/server/src/bots/bot.store.ts',
    ])
    expect(rules('platform-imports-no-domain')).toEqual([
      'apps/server/src/platform/config.ts → apps/server/src/quotas/quota.routes.ts',
    ])
    // A cycle is reported once, from its first file.
    expect(rules('no-cycles')).toEqual(['apps/server/src/users/a.ts → apps/server/src/users/b.ts'])
    expect(rules('no-domain-folder-cycles').sort()).toEqual([
      'apps/server/src/bots → apps/server/src/quotas',
      'apps/server/src/quotas → apps/server/src/bots',
    ])
    expect(rules('web-imports-no-server')).toEqual([
      'apps/web/src/page.ts → apps/server/src/quotas/quota.routes.ts',
    ])
    expect(found.some((v) => v.from.includes('usage.routes.ts'))).toBe(false)
  })

  it('passes on the real tree', async () => {
    expect(await violationsIn(root, ['apps/server/src', 'apps/web/src'])).toEqual([])
  }, 60_000)
})
