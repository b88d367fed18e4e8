import type { Db } from '../database.ts'
import type { Vault } from '../platform/crypto.ts'
import { toError } from '../platform/errors.ts'

// `openorch secrets rotate`: every stored secret made with another key is decrypted (with the key
// ring: OPENORCH_MASTER_KEY plus OPENORCH_EXTRA_MASTER_KEYS) and encrypted again with the primary
// key. Each value is replaced only if it is still the one that was read, so a secret saved meanwhile
// by a running process is left as it is (decision 0010). Channels' credentials join this list when
// channels arrive.

export interface RotationResult {
  rotated: number
  current: number
  /** Changed by someone else between read and write: left alone (it was written with a current key). */
  raced: number
  failed: Array<{ where: string; error: string }>
}

export async function rotateSecrets(database: Db, vault: Vault): Promise<RotationResult> {
  const result: RotationResult = { rotated: 0, current: 0, raced: 0, failed: [] }
  const rows = await database.db
    .selectFrom('providers')
    .select(['tenant_id', 'name', 'api_key_encrypted'])
    .where('api_key_encrypted', 'is not', null)
    .execute()
  for (const row of rows) {
    const stored = row.api_key_encrypted!
    const where = `provider ${row.name} of workspace ${row.tenant_id}`
    if (!vault.needsRotation(stored)) {
      result.current++
      continue
    }
    let fresh: string
    try {
      fresh = vault.encrypt(vault.decrypt(stored))
    } catch (error) {
      result.failed.push({ where, error: toError(error).message })
      continue
    }
    const updated = await database.db
      .updateTable('providers')
      .set({ api_key_encrypted: fresh })
      .where('tenant_id', '=', row.tenant_id)
      .where('name', '=', row.name)
      .where('api_key_encrypted', '=', stored)
      .executeTakeFirst()
    if (Number(updated.numUpdatedRows) === 1) result.rotated++
    else result.raced++
  }
  return result
}
