import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'

// SQL of a bot's notes and tool files (bot_files). Every query names the bot and the space.
type Q = Kysely<Tables>

export type FileSpaceName = 'notes' | 'files'

export interface StoredFileInfo {
  name: string
  size: number
  updatedAt: number
}

export async function listFiles(db: Q, botId: string, space: FileSpaceName): Promise<StoredFileInfo[]> {
  const rows = await db
    .selectFrom('bot_files')
    .select(['name', 'size', 'updated_at'])
    .where('bot_id', '=', botId)
    .where('space', '=', space)
    .orderBy('updated_at', 'desc')
    .orderBy('name')
    .execute()
  return rows.map((row) => ({ name: row.name, size: Number(row.size), updatedAt: Number(row.updated_at) }))
}

export async function readFile(db: Q, botId: string, space: FileSpaceName, name: string) {
  const row = await db
    .selectFrom('bot_files')
    .select(['name', 'content', 'size', 'updated_at'])
    .where('bot_id', '=', botId)
    .where('space', '=', space)
    .where('name', '=', name)
    .executeTakeFirst()
  return row
    ? { name: row.name, content: row.content, size: Number(row.size), updatedAt: Number(row.updated_at) }
    : undefined
}

export async function writeFile(
  db: Q,
  file: { tenantId: string; botId: string; space: FileSpaceName; name: string; content: string; at: number },
): Promise<void> {
  const size = Buffer.byteLength(file.content, 'utf8')
  await db
    .insertInto('bot_files')
    .values({
      bot_id: file.botId,
      space: file.space,
      name: file.name,
      tenant_id: file.tenantId,
      content: file.content,
      size,
      updated_at: file.at,
    })
    .onConflict((oc) =>
      oc
        .columns(['bot_id', 'space', 'name'])
        .doUpdateSet({ content: file.content, size, updated_at: file.at }),
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
