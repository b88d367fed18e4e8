import type { Db } from '../database.ts'
import type { Vault } from '../platform/crypto.ts'
import { toError } from '../platform/errors.ts'

// `openorch secrets rotate`: every stored secret made with another key is decrypted (with the key
// ring: OPENORCH_MASTER_KEY plus OPENORCH_EXTRA_MASTER_KEYS) and encrypted again with the primary
// key. Each value is replaced only if it is still the one that was read, so a secret saved meanwhile
// by a running process is left as it is (decision 0010): providers' keys and tools' (the web search,
// MCP servers' headers and environment).
// Channels' credentials join this list when channels arrive.

export interface RotationResult {
  rotated: number
  current: number
  /** Changed by someone else between read and write: left alone (it was written with a current key). */
  raced: number
  failed: Array<{ where: string; error: string }>
}

export async function rotateSecrets(database: Db, vault: Vault): Promise<RotationResult> {
  const result: RotationResult = { rotated: 0, current: 0, raced: 0, failed: [] }
  const providers = await database.db
    .selectFrom('providers')
    .select(['tenant_id', 'name', 'api_key_encrypted'])
    .where('api_key_encrypted', 'is not', null)
    .execute()
  for (const row of providers)
    await rotateOne(
      vault,
      result,
      row.api_key_encrypted!,
      `provider ${row.name} of workspace ${row.tenant_id}`,
      (fresh) =>
        database.db
          .updateTable('providers')
          .set({ api_key_encrypted: fresh })
          .where('tenant_id', '=', row.tenant_id)
          .where('name', '=', row.name)
          .where('api_key_encrypted', '=', row.api_key_encrypted!)
          .executeTakeFirst(),
    )
  const toolSettings = await database.db
    .selectFrom('tool_settings')
    .select(['tenant_id', 'name', 'secret_encrypted'])
    .where('secret_encrypted', 'is not', null)
    .execute()
  for (const row of toolSettings)
    await rotateOne(
      vault,
      result,
      row.secret_encrypted!,
      `tool ${row.name} of workspace ${row.tenant_id}`,
      (fresh) =>
        database.db
          .updateTable('tool_settings')
          .set({ secret_encrypted: fresh })
          .where('tenant_id', '=', row.tenant_id)
          .where('name', '=', row.name)
          .where('secret_encrypted', '=', row.secret_encrypted!)
          .executeTakeFirst(),
    )
  // MCP servers' header and environment values (tools/mcp, migration 0026).
  const mcpServers = await database.db
    .selectFrom('mcp_servers')
    .select(['tenant_id', 'id', 'name', 'headers_encrypted', 'env_encrypted'])
    .where((eb) => eb.or([eb('headers_encrypted', 'is not', null), eb('env_encrypted', 'is not', null)]))
    .execute()
  for (const row of mcpServers)
    for (const column of ['headers_encrypted', 'env_encrypted'] as const) {
      const stored = row[column]
      if (stored === null) continue
      await rotateOne(
        vault,
        result,
        stored,
        `MCP server ${row.name} (${column === 'headers_encrypted' ? 'headers' : 'env'}) of workspace ${row.tenant_id}`,
        (fresh) =>
          database.db
            .updateTable('mcp_servers')
            .set({ [column]: fresh })
            .where('tenant_id', '=', row.tenant_id)
            .where('id', '=', row.id)
            .where(column, '=', stored)
            .executeTakeFirst(),
      )
    }
  return result
}

/** Re-encrypts one stored secret with the primary key, unless it changed since it was read. */
async function rotateOne(
  vault: Vault,
  result: RotationResult,
  stored: string,
  where: string,
  replace: (fresh: string) => Promise<{ numUpdatedRows: bigint }>,
): Promise<void> {
  if (!vault.needsRotation(stored)) {
    result.current++
    return
  }
  let fresh: string
  try {
    fresh = vault.encrypt(vault.decrypt(stored))
  } catch (error) {
    result.failed.push({ where, error: toError(error).message })
    return
  }
  if (Number((await replace(fresh)).numUpdatedRows) === 1) result.rotated++
  else result.raced++
}
