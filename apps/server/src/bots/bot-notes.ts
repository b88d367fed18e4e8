import { randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { noteNamePattern } from '@openorch/contracts'
import { AppError, notFound } from '../platform/errors.ts'
import { checkNotesCopy, checkNoteWrite, type Quotas } from '../quotas/quotas.ts'

// A bot's notes: files in `<data>/bots/<id>/`, part of every run's context. Names are checked twice:
// by pattern (no separators, no leading dot, no `..`), and by resolving the path inside the folder.

export interface NoteFile {
  name: string
  content: string
  size: number
  updatedAt: number
}

export interface BotNotes {
  list(botId: string): Promise<Omit<NoteFile, 'content'>[]>
  /** Newest first, with content: the run context reads them in this order. */
  readAll(botId: string): Promise<NoteFile[]>
  /**
   * Newest first, reading contents only up to `maxBytes` in total (issue 11 item 7): a note that no
   * longer fits is read only in part (`complete: false`), older ones not at all (empty content).
   * What a run's context can use, never all of a bot's notes in memory.
   */
  readWithin(botId: string, maxBytes: number): Promise<Array<NoteFile & { complete: boolean }>>
  get(botId: string, name: string): Promise<NoteFile>
  /**
   * With `quotas`, refuses what the bot's notes may not hold (quota_exceeded), by metadata only. The
   * check is strict only under the bot's lock (BotService.putNote): parallel writes outside it can all
   * pass the check before any of them wrote.
   */
  put(botId: string, name: string, content: string, quotas?: Quotas): Promise<NoteFile>
  remove(botId: string, name: string): Promise<void>
  removeAll(botId: string): Promise<void>
  copy(fromBotId: string, toBotId: string, quotas?: Quotas): Promise<void>
}

export function createBotNotes(dataDir: string): BotNotes {
  const root = path.resolve(dataDir, 'bots')

  function folderOf(botId: string): string {
    const folder = path.resolve(root, botId)
    if (path.dirname(folder) !== root) throw notFound('bot_not_found', `Bot ${botId} does not exist.`)
    return folder
  }

  function fileOf(botId: string, name: string): string {
    if (!noteNamePattern.test(name) || name.includes('..'))
      throw new AppError(
        'invalid_note_name',
        `"${name}" is not a valid note name: use letters, digits, spaces, ".", "_" and "-" (at most 100, no path).`,
        400,
        { errors: [{ field: 'name', message: 'letters, digits, space, ".", "_", "-"; no path' }] },
      )
    const folder = folderOf(botId)
    const file = path.resolve(folder, name)
    if (path.dirname(file) !== folder)
      throw new AppError('invalid_note_name', `"${name}" leaves the bot's folder.`, 400)
    return file
  }

  async function stat(file: string) {
    try {
      return await fs.lstat(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async function list(botId: string): Promise<Omit<NoteFile, 'content'>[]> {
    const folder = folderOf(botId)
    let names: string[]
    try {
      names = await fs.readdir(folder)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    const notes: Omit<NoteFile, 'content'>[] = []
    for (const name of names) {
      if (!noteNamePattern.test(name) || name.includes('..')) continue
      const info = await stat(path.join(folder, name))
      // Only regular files: a symlink planted in the folder must not lead a run's context elsewhere.
      if (!info?.isFile()) continue
      notes.push({ name, size: info.size, updatedAt: Math.round(info.mtimeMs) })
    }
    return notes.sort((a, b) => b.updatedAt - a.updatedAt || a.name.localeCompare(b.name))
  }

  async function get(botId: string, name: string): Promise<NoteFile> {
    const file = fileOf(botId, name)
    const info = await stat(file)
    if (!info?.isFile()) throw notFound('note_not_found', `The bot has no note "${name}".`)
    const content = await fs.readFile(file, 'utf8')
    return { name, content, size: info.size, updatedAt: Math.round(info.mtimeMs) }
  }

  return {
    list,
    async readAll(botId) {
      const notes: NoteFile[] = []
      for (const note of await list(botId)) notes.push(await get(botId, note.name))
      return notes
    },
    async readWithin(botId, maxBytes) {
      const notes: Array<NoteFile & { complete: boolean }> = []
      let left = maxBytes
      for (const note of await list(botId)) {
        if (left <= 0) {
          notes.push({ ...note, content: '', complete: false })
          continue
        }
        const file = fileOf(botId, note.name)
        const length = Math.min(note.size, left)
        const buffer = Buffer.alloc(length)
        const handle = await fs.open(file, 'r')
        let read = 0
        try {
          read = (await handle.read(buffer, 0, length, 0)).bytesRead
        } finally {
          await handle.close()
        }
        left -= read
        // A character cut in half at the end becomes U+FFFD: drop it.
        const content = buffer
          .subarray(0, read)
          .toString('utf8')
          .replace(/\uFFFD$/, '')
        notes.push({ ...note, content, complete: read >= note.size })
      }
      return notes
    },
    get,
    async put(botId, name, content, quotas) {
      const file = fileOf(botId, name)
      // Metadata only: the bot's notes may hold so many and so much (quotas).
      if (quotas) checkNoteWrite(quotas, await list(botId), name, Buffer.byteLength(content, 'utf8'))
      await fs.mkdir(path.dirname(file), { recursive: true })
      const existing = await stat(file)
      if (existing && !existing.isFile())
        throw new AppError('invalid_note_name', `"${name}" is not a regular file.`, 400)
      // Write then rename: a reader never sees half a note. A temporary name of its own per write, so
      // two writes of one note (another request, another process on a shared folder) never mix.
      const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`
      try {
        await fs.writeFile(temporary, content, { encoding: 'utf8', mode: 0o600 })
        await fs.rename(temporary, file)
      } catch (error) {
        await fs.rm(temporary, { force: true })
        throw error
      }
      return get(botId, name)
    },
    async remove(botId, name) {
      const file = fileOf(botId, name)
      const info = await stat(file)
      if (!info?.isFile()) throw notFound('note_not_found', `The bot has no note "${name}".`)
      await fs.rm(file)
    },
    async removeAll(botId) {
      await fs.rm(folderOf(botId), { recursive: true, force: true })
    },
    async copy(fromBotId, toBotId, quotas) {
      const notes = await list(fromBotId)
      if (quotas) checkNotesCopy(quotas, notes)
      for (const note of notes) {
        const { content } = await get(fromBotId, note.name)
        await this.put(toBotId, note.name, content)
      }
    },
  }
}
