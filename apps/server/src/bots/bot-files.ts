import { botFileNamePattern } from '@openorch/contracts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { notFound } from '../platform/errors.ts'
import { type FileSpace, ToolError } from '../tools/tools.ts'
import { lockBot } from './bot.store.ts'
import { deleteFile, listFiles, readFile, type StoredFile, writeFile } from './bot-file.store.ts'

// A bot's own file space for the files tool set (bot_files, space `files`; issue 13). Flat names, no
// way out of the space; a file up to 1 MiB, 20 MiB and 1,000 files a bot, counted in bytes whether a
// file is text or binary (a screenshot). Writes count and write under the bot's lock (SQLite's write
// lock, the bot's row on PostgreSQL), so parallel calls — of one run or of several processes — cannot
// overshoot together. People read the files through GET /bots/{id}/files (bot-files.routes.ts).

export const fileLimits = { fileBytes: 1024 * 1024, totalBytes: 20 * 1024 * 1024, files: 1000 }

/** A MIME type without parameters (`image/png`): what a binary file is served as. */
const contentTypePattern = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/

function checkName(name: string): void {
  if (!isBotFileName(name))
    throw new ToolError(
      'file_name_invalid',
      `"${name.slice(0, 200)}" is not a valid file name: use letters, digits, spaces, ".", "_" and "-" (at most 200, starting with a letter or digit, no path).`,
    )
}

export function isBotFileName(name: string): boolean {
  return botFileNamePattern.test(name) && !name.includes('..')
}

/** What the model is told instead of a binary file's bytes. */
function binaryRefusal(file: { name: string; contentType: string; size: number }, action: string): ToolError {
  return new ToolError(
    'file_binary',
    `"${file.name}" is a binary file (${file.contentType}, ${file.size} bytes), not text, so it cannot be ${action}. It is kept for people to see (a screenshot in the run's log); files_list shows it. Replace it with files_write or delete it if it is no longer needed.`,
  )
}

type Content = { text: string } | { bytes: Uint8Array; contentType: string }

export function botFileSpace(
  deps: { database: Db; clock: Pick<Clock, 'now'> },
  tenantId: string,
  botId: string,
): FileSpace {
  const db = deps.database.db

  async function store(name: string, content: (existing: StoredFile | undefined) => Content) {
    checkName(name)
    return writeTransaction(deps.database, async (trx) => {
      if (!(await lockBot(trx, tenantId, botId, deps.database.dialect)))
        throw new ToolError('file_space_gone', 'The bot no longer exists, so its files cannot be written.')
      const existing = await readFile(trx, botId, 'files', name)
      const next = content(existing)
      const size = 'text' in next ? Buffer.byteLength(next.text, 'utf8') : next.bytes.byteLength
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
      await writeFile(trx, {
        tenantId,
        botId,
        space: 'files',
        name,
        at: deps.clock.now(),
        ...('text' in next
          ? { content: next.text }
          : { content: '', binary: { bytes: next.bytes, contentType: next.contentType } }),
      })
      return { name, size }
    })
  }

  return {
    list: async () =>
      (await listFiles(db, botId, 'files')).map(({ name, size, updatedAt, contentType }) => ({
        name,
        size,
        updatedAt,
        contentType,
      })),
    async read(name) {
      checkName(name)
      const file = await readFile(db, botId, 'files', name)
      if (!file)
        throw new ToolError(
          'file_not_found',
          `There is no file "${name}". files_list shows the files there are.`,
        )
      if (file.encoding !== 'utf8') throw binaryRefusal(file, 'read as text')
      return { name: file.name, content: file.content, size: file.size, updatedAt: file.updatedAt }
    },
    write: (name, content) => store(name, () => ({ text: content })),
    async writeBinary(name, bytes, contentType) {
      if (!contentTypePattern.test(contentType))
        throw new ToolError(
          'request_invalid',
          `"${contentType.slice(0, 100)}" is not a MIME type such as image/png.`,
        )
      return store(name, () => ({ bytes, contentType }))
    },
    append: (name, content) =>
      store(name, (existing) => {
        if (existing && existing.encoding !== 'utf8') throw binaryRefusal(existing, 'appended to')
        return { text: (existing?.content ?? '') + content }
      }),
    async delete(name) {
      checkName(name)
      if (!(await deleteFile(db, botId, 'files', name)))
        throw new ToolError('file_not_found', `There is no file "${name}".`)
    },
  }
}

/** A bot's file as people fetch it (GET /bots/{id}/files/{name}): its bytes and what they are. */
export interface BotFileDownload {
  name: string
  bytes: Buffer
  contentType: string
  size: number
  updatedAt: number
}

/** Read-only access to the bots' file spaces for people (the API); the bot is checked by the caller. */
export interface BotFiles {
  list(botId: string): Promise<Array<{ name: string; size: number; contentType: string; updatedAt: number }>>
  /** 404 `file_not_found` for a missing file or a name no file can have. */
  get(botId: string, name: string): Promise<BotFileDownload>
}

export function createBotFiles(deps: { database: Db }): BotFiles {
  const db = deps.database.db
  const missing = (name: string) => notFound('file_not_found', `The bot has no file "${name}".`)
  return {
    list: async (botId) =>
      (await listFiles(db, botId, 'files')).map(({ name, size, contentType, updatedAt }) => ({
        name,
        size,
        contentType,
        updatedAt,
      })),
    async get(botId, name) {
      if (!isBotFileName(name)) throw missing(name.slice(0, 200))
      const file = await readFile(db, botId, 'files', name)
      if (!file) throw missing(name)
      const bytes =
        file.encoding === 'base64' ? Buffer.from(file.content, 'base64') : Buffer.from(file.content, 'utf8')
      return {
        name: file.name,
        bytes,
        contentType: file.contentType,
        size: file.size,
        updatedAt: file.updatedAt,
      }
    },
  }
}
