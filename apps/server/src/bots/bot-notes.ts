import { noteNamePattern } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { checkNotesCopy, checkNoteWrite, type Quotas } from '../quotas/quotas.ts'
import { deleteAllFiles, deleteFile, listFiles, readFile, writeFile } from './bot-file.store.ts'

// A bot's notes: named texts in the database (bot_files, space `notes`; migration 0022), part of every
// run's context. Every process of a cluster sees the same ones. Names are letters, digits, spaces,
// ".", "_" and "-": no path, nothing to escape.

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
   * Newest first, contents only up to `maxBytes` in total (issue 11 item 7): a note that no longer
   * fits comes in part (`complete: false`), older ones not at all (empty content).
   */
  readWithin(botId: string, maxBytes: number): Promise<Array<NoteFile & { complete: boolean }>>
  get(botId: string, name: string): Promise<NoteFile>
  /**
   * With `quotas`, refuses what the bot's notes may not hold (quota_exceeded). The check is strict
   * only under the bot's lock, with `q` its transaction (BotService.putNote).
   */
  put(
    target: { tenantId: string; botId: string },
    name: string,
    content: string,
    quotas?: Quotas,
    q?: Kysely<Tables>,
  ): Promise<NoteFile>
  remove(botId: string, name: string): Promise<void>
  removeAll(botId: string, q?: Kysely<Tables>): Promise<void>
  copy(
    from: string,
    to: { tenantId: string; botId: string },
    quotas?: Quotas,
    q?: Kysely<Tables>,
  ): Promise<void>
}

export function checkNoteName(name: string): void {
  if (!noteNamePattern.test(name) || name.includes('..'))
    throw new AppError(
      'invalid_note_name',
      `"${name}" is not a valid note name: use letters, digits, spaces, ".", "_" and "-" (at most 100, no path).`,
      400,
      { errors: [{ field: 'name', message: 'letters, digits, space, ".", "_", "-"; no path' }] },
    )
}

export function createBotNotes(deps: { database: Db; clock: Pick<Clock, 'now'> }): BotNotes {
  const db = deps.database.db

  async function get(botId: string, name: string, q: Kysely<Tables> = db): Promise<NoteFile> {
    checkNoteName(name)
    const note = await readFile(q, botId, 'notes', name)
    if (!note) throw notFound('note_not_found', `The bot has no note "${name}".`)
    return note
  }

  async function put(
    target: { tenantId: string; botId: string },
    name: string,
    content: string,
    quotas?: Quotas,
    q: Kysely<Tables> = db,
  ): Promise<NoteFile> {
    checkNoteName(name)
    if (quotas)
      checkNoteWrite(
        quotas,
        await listFiles(q, target.botId, 'notes'),
        name,
        Buffer.byteLength(content, 'utf8'),
      )
    await writeFile(q, { ...target, space: 'notes', name, content, at: deps.clock.now() })
    return get(target.botId, name, q)
  }

  return {
    list: (botId) => listFiles(db, botId, 'notes'),
    async readAll(botId) {
      const notes: NoteFile[] = []
      for (const note of await listFiles(db, botId, 'notes')) notes.push(await get(botId, note.name))
      return notes
    },
    async readWithin(botId, maxBytes) {
      const notes: Array<NoteFile & { complete: boolean }> = []
      let left = maxBytes
      for (const note of await listFiles(db, botId, 'notes')) {
        if (left <= 0) {
          notes.push({ ...note, content: '', complete: false })
          continue
        }
        const { content } = await get(botId, note.name)
        const bytes = Buffer.from(content, 'utf8')
        const read = Math.min(bytes.length, left)
        left -= read
        // A character cut in half at the end becomes U+FFFD: drop it.
        const text =
          read === bytes.length
            ? content
            : bytes
                .subarray(0, read)
                .toString('utf8')
                .replace(/\uFFFD$/, '')
        notes.push({ ...note, content: text, complete: read >= bytes.length })
      }
      return notes
    },
    get: (botId, name) => get(botId, name),
    put,
    async remove(botId, name) {
      checkNoteName(name)
      if (!(await deleteFile(db, botId, 'notes', name)))
        throw notFound('note_not_found', `The bot has no note "${name}".`)
    },
    removeAll: (botId, q = db) => deleteAllFiles(q, botId),
    async copy(from, to, quotas, q = db) {
      const notes = await listFiles(q, from, 'notes')
      if (quotas) checkNotesCopy(quotas, notes)
      for (const note of notes) {
        const { content } = await get(from, note.name, q)
        await writeFile(q, { ...to, space: 'notes', name: note.name, content, at: note.updatedAt })
      }
    },
  }
}
