import fs from 'node:fs/promises'
import path from 'node:path'
import { noteNamePattern } from '@openorch/contracts'
import type { Db } from '../database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { Logger } from '../platform/logger.ts'

// Before migration 0022 a bot's notes were files under <data>/bots/<id>/. At start-up they move into
// the database once: each bot's notes in one transaction (a note already there is kept), then its
// folder goes. A crash in between only repeats the import of that bot. A folder of a bot that no
// longer exists is left alone, and so is anything that is not a regular file with a note's name.
export async function importNoteFiles(database: Db, dataDir: string, log: Logger): Promise<number> {
  const root = path.resolve(dataDir, 'bots')
  let folders: string[]
  try {
    folders = await fs.readdir(root)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
  let imported = 0
  for (const botId of folders) {
    const folder = path.join(root, botId)
    if (!(await fs.lstat(folder)).isDirectory()) continue
    const bot = await database.db
      .selectFrom('bots')
      .select('tenant_id')
      .where('id', '=', botId)
      .executeTakeFirst()
    if (!bot) {
      log.warn({ folder }, 'notes folder of a bot that does not exist: left where it is')
      continue
    }
    const notes: Array<{ name: string; content: string; size: number; updatedAt: number }> = []
    for (const name of await fs.readdir(folder)) {
      if (!noteNamePattern.test(name) || name.includes('..')) continue
      const file = path.join(folder, name)
      const info = await fs.lstat(file)
      // Only regular files: a symlink planted in the folder must not pull another file in.
      if (!info.isFile()) continue
      const content = await fs.readFile(file, 'utf8')
      notes.push({
        name,
        content,
        size: Buffer.byteLength(content, 'utf8'),
        updatedAt: Math.round(info.mtimeMs),
      })
    }
    await writeTransaction(database, async (trx) => {
      for (const note of notes)
        await trx
          .insertInto('bot_files')
          .values({
            bot_id: botId,
            space: 'notes',
            name: note.name,
            tenant_id: bot.tenant_id,
            content: note.content,
            size: note.size,
            updated_at: note.updatedAt,
          })
          .onConflict((oc) => oc.columns(['bot_id', 'space', 'name']).doNothing())
          .execute()
    })
    await fs.rm(folder, { recursive: true, force: true })
    imported += notes.length
    log.info({ botId, notes: notes.length }, 'notes moved from the data folder into the database')
  }
  return imported
}
