import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'

// SQL of a bot's notes and tool files (bot_files). Every query names the bot and the space. A binary
// file's bytes are base64 in `content` (`encoding` base64, migration 0027); `size` is always bytes.
type Q = Kysely<Tables>

export type FileSpaceName = 'notes' | 'files'
export type FileEncoding = 'utf8' | 'base64'

export const textContentType = 'text/plain; charset=utf-8'

export interface StoredFileInfo {
  name: string
  size: number
  updatedAt: number
  contentType: string
  encoding: FileEncoding
}

export interface StoredFile extends StoredFileInfo {
  /** The text, or the bytes in base64 when `encoding` is base64. */
  content: string
}

const encodingOf = (value: string): FileEncoding => (value === 'base64' ? 'base64' : 'utf8')

export async function listFiles(db: Q, botId: string, space: FileSpaceName): Promise<StoredFileInfo[]> {
  const rows = await db
    .selectFrom('bot_files')
    .select(['name', 'size', 'updated_at', 'content_type', 'encoding'])
    .where('bot_id', '=', botId)
    .where('space', '=', space)
    .orderBy('updated_at', 'desc')
    .orderBy('name')
    .execute()
  return rows.map((row) => ({
    name: row.name,
    size: Number(row.size),
    updatedAt: Number(row.updated_at),
    contentType: row.content_type,
    encoding: encodingOf(row.encoding),
  }))
}

export async function readFile(
  db: Q,
  botId: string,
  space: FileSpaceName,
  name: string,
): Promise<StoredFile | undefined> {
  const row = await db
    .selectFrom('bot_files')
    .select(['name', 'content', 'size', 'updated_at', 'content_type', 'encoding'])
    .where('bot_id', '=', botId)
    .where('space', '=', space)
    .where('name', '=', name)
    .executeTakeFirst()
  return row
    ? {
        name: row.name,
        content: row.content,
        size: Number(row.size),
        updatedAt: Number(row.updated_at),
        contentType: row.content_type,
        encoding: encodingOf(row.encoding),
      }
    : undefined
}

/** Writes a text file, or with `binary` a file of bytes (`content` then ignored). */
export async function writeFile(
  db: Q,
  file: {
    tenantId: string
    botId: string
    space: FileSpaceName
    name: string
    content: string
    at: number
    binary?: { bytes: Uint8Array; contentType: string }
  },
): Promise<void> {
  const stored = file.binary
    ? {
        content: Buffer.from(file.binary.bytes).toString('base64'),
        size: file.binary.bytes.byteLength,
        encoding: 'base64' as const,
        content_type: file.binary.contentType,
      }
    : {
        content: file.content,
        size: Buffer.byteLength(file.content, 'utf8'),
        encoding: 'utf8' as const,
        content_type: textContentType,
      }
  await db
    .insertInto('bot_files')
    .values({
      bot_id: file.botId,
      space: file.space,
      name: file.name,
      tenant_id: file.tenantId,
      ...stored,
      updated_at: file.at,
    })
    .onConflict((oc) =>
      oc.columns(['bot_id', 'space', 'name']).doUpdateSet({ ...stored, updated_at: file.at }),
    )
    .execute()
}

/** True when the file existed. */
export async function deleteFile(db: Q, botId: string, space: FileSpaceName, name: string): Promise<boolean> {
  const result = await db
    .deleteFrom('bot_files')
    .where('bot_id', '=', botId)
    .where('space', '=', space)
    .where('name', '=', name)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

export async function deleteAllFiles(db: Q, botId: string): Promise<void> {
  await db.deleteFrom('bot_files').where('bot_id', '=', botId).execute()
}
