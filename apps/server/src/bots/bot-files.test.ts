import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { ToolError } from '../tools/tools.ts'
import { botFileSpace, fileLimits } from './bot-files.ts'
import { importNoteFiles } from './bot-notes.import.ts'

const tenantId = 'default'

describe.each(dialects)("a bot's files and notes in the database on %s", (dialect) => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
  })

  async function setUp() {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'ollama', { defaultModel: 'llama3.2' })
    return t.bots.service.create(tenantId, { name: 'Keeper', prompt: 'p', provider: 'ollama' })
  }
  const codeOf = async (work: Promise<unknown>) => {
    const error = await work.then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(ToolError)
    return (error as ToolError).code
  }

  it('keeps files in the bot’s own space: names checked, no way out, quotas held', async () => {
    const bot = await setUp()
    const files = botFileSpace({ database: t.database, clock: { now: () => 1000 } }, tenantId, bot.id)
    expect(await files.write('seen.txt', 'a\n')).toEqual({ name: 'seen.txt', size: 2 })
    expect(await files.append('seen.txt', 'b\n')).toEqual({ name: 'seen.txt', size: 4 })
    expect((await files.read('seen.txt')).content).toBe('a\nb\n')
    for (const name of [
      '../x',
      '/etc/passwd',
      '.hidden',
      'a/b',
      'a\\b',
      '',
      'x'.repeat(201),
      'nul\u0000',
      '..',
    ])
      expect(await codeOf(files.write(name, 'x'))).toBe('file_name_invalid')
    expect(await codeOf(files.read('missing.txt'))).toBe('file_not_found')
    expect(await codeOf(files.write('big.txt', 'x'.repeat(fileLimits.fileBytes + 1)))).toBe('file_too_large')
    // Another bot, even of the same workspace, has its own space.
    const other = await t.bots.service.create(tenantId, { name: 'Other', prompt: 'p', provider: 'ollama' })
    const theirs = botFileSpace({ database: t.database, clock: { now: () => 1000 } }, tenantId, other.id)
    expect(await theirs.list()).toEqual([])
    expect(await codeOf(theirs.read('seen.txt'))).toBe('file_not_found')
    // Notes and files are apart: the notes API does not see the file.
    expect(await t.bots.notes.list(bot.id)).toEqual([])
    await files.delete('seen.txt')
    expect(await files.list()).toEqual([])
  })

  it('keeps binary files: their real byte size counts, the model is told instead of given base64', async () => {
    const bot = await setUp()
    const files = botFileSpace({ database: t.database, clock: { now: () => 1000 } }, tenantId, bot.id)
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 255])
    expect(await files.writeBinary('shot.png', bytes, 'image/png')).toEqual({ name: 'shot.png', size: 12 })
    await files.write('seen.txt', 'ä')
    expect(await files.list()).toEqual([
      { name: 'seen.txt', size: 2, updatedAt: 1000, contentType: 'text/plain; charset=utf-8' },
      { name: 'shot.png', size: 12, updatedAt: 1000, contentType: 'image/png' },
    ])
    const refused = await files.read('shot.png').catch((error: unknown) => error as ToolError)
    expect(refused).toMatchObject({ code: 'file_binary' })
    expect((refused as ToolError).message).toContain('image/png, 12 bytes')
    expect((refused as ToolError).message).not.toContain(bytes.toString('base64'))
    expect(await codeOf(files.append('shot.png', 'x'))).toBe('file_binary')
    // What people fetch is the bytes as written, and text as its UTF-8.
    expect(await t.bots.files.get(bot.id, 'shot.png')).toMatchObject({
      bytes,
      contentType: 'image/png',
      size: 12,
    })
    expect((await t.bots.files.get(bot.id, 'seen.txt')).bytes).toEqual(Buffer.from('ä'))
    expect(await codeOf(files.writeBinary('x.bin', bytes, 'not a type'))).toBe('request_invalid')
    expect(await codeOf(files.writeBinary('../x.png', bytes, 'image/png'))).toBe('file_name_invalid')
    // Text may replace a binary file (and the other way round).
    await files.write('shot.png', 'now text')
    expect((await files.read('shot.png')).content).toBe('now text')

    // Quotas count bytes, not their base64 spelling: exactly 1 MiB fits, one byte more does not.
    const mib = Buffer.alloc(fileLimits.fileBytes, 7)
    expect(await files.writeBinary('full.bin', mib, 'application/octet-stream')).toEqual({
      name: 'full.bin',
      size: fileLimits.fileBytes,
    })
    expect((await t.bots.files.get(bot.id, 'full.bin')).bytes.equals(mib)).toBe(true)
    expect(
      await codeOf(files.writeBinary('over.bin', Buffer.alloc(fileLimits.fileBytes + 1), 'image/png')),
    ).toBe('file_too_large')
    // Twenty full files are exactly the 20 MiB a bot may hold: one byte more is refused.
    for (let i = 0; i < 18; i++) await files.writeBinary(`full${i}.bin`, mib, 'application/octet-stream')
    await files.delete('seen.txt')
    await files.delete('shot.png')
    expect(await files.writeBinary('last.bin', mib, 'application/octet-stream')).toMatchObject({
      size: fileLimits.fileBytes,
    })
    expect(await codeOf(files.writeBinary('one-more.png', Buffer.alloc(1), 'image/png'))).toBe('files_quota')
  })

  it('holds the count quota under parallel writes, and a deleted bot takes its files along', async () => {
    const bot = await setUp()
    const files = botFileSpace({ database: t.database, clock: { now: () => 1000 } }, tenantId, bot.id)
    // Near the count limit, 20 parallel writes of new files: exactly the free slots succeed.
    const rows = Array.from({ length: fileLimits.files - 3 }, (_, i) => ({
      bot_id: bot.id,
      space: 'files',
      name: `f${i}`,
      tenant_id: tenantId,
      content: '',
      size: 0,
      updated_at: 1,
    }))
    for (let i = 0; i < rows.length; i += 200)
      await t.database.db
        .insertInto('bot_files')
        .values(rows.slice(i, i + 200))
        .execute()
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => files.write(`new${i}`, 'x')),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
    expect(
      results.every((r) => r.status === 'fulfilled' || (r.reason as ToolError).code === 'files_quota'),
    ).toBe(true)
    await t.bots.service.remove(tenantId, bot.id)
    const left = await t.database.db
      .selectFrom('bot_files')
      .select('name')
      .where('bot_id', '=', bot.id)
      .execute()
    expect(left).toEqual([])
  })

  it.runIf(dialect === 'postgres')('shows every process the same files (no shared disk needed)', async () => {
    const bot = await setUp()
    const second = await t.openSecond()
    await botFileSpace({ database: t.database, clock: { now: () => 1 } }, tenantId, bot.id).write(
      'a.txt',
      'from one',
    )
    const there = botFileSpace({ database: second, clock: { now: () => 2 } }, tenantId, bot.id)
    expect((await there.read('a.txt')).content).toBe('from one')
    await there.append('a.txt', ', and two')
    expect(
      (await botFileSpace({ database: t.database, clock: { now: () => 3 } }, tenantId, bot.id).read('a.txt'))
        .content,
    ).toBe('from one, and two')
  })

  it('moves the notes of the data folder into the database once, and leaves what is not a note', async () => {
    const bot = await setUp()
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-notes-import-'))
    try {
      const folder = path.join(dataDir, 'bots', bot.id)
      fs.mkdirSync(folder, { recursive: true })
      fs.writeFileSync(path.join(folder, 'rules.md'), 'Only size 42.')
      fs.writeFileSync(path.join(folder, 'ümlaut.md'), 'not a valid name')
      fs.symlinkSync('/etc/hostname', path.join(folder, 'link.md'))
      fs.mkdirSync(path.join(dataDir, 'bots', 'gone-bot'))
      fs.writeFileSync(path.join(dataDir, 'bots', 'gone-bot', 'x.md'), 'orphan')
      // A note already in the database (a crash after the insert, before the folder went) is kept.
      await t.bots.notes.put({ tenantId, botId: bot.id }, 'rules.md', 'newer')
      expect(await importNoteFiles(t.database, dataDir, testLog)).toBe(1)
      expect((await t.bots.notes.get(bot.id, 'rules.md')).content).toBe('newer')
      expect((await t.bots.notes.list(bot.id)).map((note) => note.name)).toEqual(['rules.md'])
      expect(fs.existsSync(folder)).toBe(false)
      expect(fs.existsSync(path.join(dataDir, 'bots', 'gone-bot', 'x.md'))).toBe(true)
      // Once is enough: nothing left to move.
      expect(await importNoteFiles(t.database, dataDir, testLog)).toBe(0)
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
