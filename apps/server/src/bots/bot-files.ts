import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { type FileSpace, ToolError } from '../tools/tools.ts'
import { lockBot } from './bot.store.ts'
import { deleteFile, listFiles, readFile, writeFile } from './bot-file.store.ts'

// A bot's own file space for the files tool set (bot_files, space `files`; issue 13). Flat names, no
// way out of the space; a file up to 1 MiB, 20 MiB and 1,000 files a bot. Writes count and write under
// the bot's lock (SQLite's write lock, the bot's row on PostgreSQL), so parallel calls — of one run or
// of several processes — cannot overshoot together.

export const fileLimits = { fileBytes: 1024 * 1024, totalBytes: 20 * 1024 * 1024, files: 1000 }

const namePattern = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,199}$/

function checkName(name: string): void {
  if (!namePattern.test(name) || name.includes('..'))
    throw new ToolError(
      'file_name_invalid',
      `"${name.slice(0, 200)}" is not a valid file name: use letters, digits, spaces, ".", "_" and "-" (at most 200, starting with a letter or digit, no path).`,
    )
}

export function botFileSpace(
  deps: { database: Db; clock: Pick<Clock, 'now'> },
  tenantId: string,
  botId: string,
): FileSpace {
  const db = deps.database.db

  async function store(name: string, content: (existing: string | undefined) => string) {
    checkName(name)
    return writeTransaction(deps.database, async (trx) => {
      if (!(await lockBot(trx, tenantId, botId, deps.database.dialect)))
        throw new ToolError('file_space_gone', 'The bot no longer exists, so its files cannot be written.')
      const existing = await readFile(trx, botId, 'files', name)
      const next = content(existing?.content)
      const size = Buffer.byteLength(next, 'utf8')
      if (size > fileLimits.fileBytes)
        throw new ToolError(
          'file_too_large',
          `"${name}" would be ${size} bytes; a file may hold at most ${fileLimits.fileBytes} (1 MiB). Split it, or keep only what you need.`,
        )
      const files = await listFiles(trx, botId, 'files')
      if (!existing && files.length >= fileLimits.files)
        throw new ToolError(
          'files_quota',
          `The bot has ${files.length} files, the most it may have. Delete or merge files first.`,
        )
      const total = files.reduce((sum, file) => sum + file.size, 0) - (existing?.size ?? 0) + size
      if (total > fileLimits.totalBytes)
        throw new ToolError(
          'files_quota',
          `The bot's files would take ${total} bytes; at most ${fileLimits.totalBytes} (20 MiB) are allowed. Delete files first.`,
        )
      await writeFile(trx, { tenantId, botId, space: 'files', name, content: next, at: deps.clock.now() })
      return { name, size }
    })
  }

  return {
    list: () => listFiles(db, botId, 'files'),
    async read(name) {
      checkName(name)
      const file = await readFile(db, botId, 'files', name)
      if (!file)
        throw new ToolError(
          'file_not_found',
          `There is no file "${name}". files_list shows the files there are.`,
        )
      return file
    },
    write: (name, content) => store(name, () => content),
    append: (name, content) => store(name, (existing) => (existing ?? '') + content),
    async delete(name) {
      checkName(name)
      if (!(await deleteFile(db, botId, 'files', name)))
        throw new ToolError('file_not_found', `There is no file "${name}".`)
    },
  }
}
