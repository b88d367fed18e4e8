import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { insertProviderRow } from '../../test/app-harness.ts'
import { dialects, useTestDatabase } from '../../test/databases.ts'
import { createVault, VaultError } from '../platform/crypto.ts'
import { rotateSecrets } from './rotate-secrets.ts'

const oldKey = 'old-master-key-0123456789abcdefghijklmnop'
const newKey = 'new-master-key-0123456789abcdefghijklmnop'
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-vault-'))

describe('vault key ring', () => {
  it('reads values of an extra key, writes with the primary, and says which need rotation', () => {
    const before = createVault({ masterKey: oldKey, dataDir })
    const during = createVault({ masterKey: newKey, dataDir, extraKeys: [oldKey] })
    const after = createVault({ masterKey: newKey, dataDir })
    const stored = before.encrypt('sk-secret')
    expect(during.decrypt(stored)).toBe('sk-secret')
    expect(during.needsRotation(stored)).toBe(true)
    const fresh = during.encrypt('sk-secret')
    expect(during.needsRotation(fresh)).toBe(false)
    expect(after.decrypt(fresh)).toBe('sk-secret')
    expect(() => after.decrypt(stored)).toThrow(VaultError)
    expect(() => after.decrypt(stored)).toThrow(/OPENORCH_EXTRA_MASTER_KEYS/)
    expect(() => createVault({ masterKey: newKey, dataDir, extraKeys: ['short'] })).toThrow(/at least 32/)
  })
})

describe.each(dialects)('secrets rotation on %s', (dialect) => {
  const fixture = useTestDatabase(dialect)
  const db = () => fixture.database

  const saveProvider = (name: string, encrypted: string | null) =>
    insertProviderRow(db(), name, { apiKeyEncrypted: encrypted })
  const storedOf = async (name: string) =>
    (
      await db()
        .db.selectFrom('providers')
        .select('api_key_encrypted')
        .where('name', '=', name)
        .executeTakeFirstOrThrow()
    ).api_key_encrypted!

  it('re-encrypts every secret under the new key, once; the old key is not needed afterwards', async () => {
    const before = createVault({ masterKey: oldKey, dataDir })
    await saveProvider('openai', before.encrypt('sk-openai'))
    await saveProvider('anthropic', before.encrypt('sk-ant'))
    await saveProvider('ollama', null)
    const during = createVault({ masterKey: newKey, dataDir, extraKeys: [oldKey] })
    expect(await rotateSecrets(db(), during)).toEqual({ rotated: 2, current: 0, raced: 0, failed: [] })
    const after = createVault({ masterKey: newKey, dataDir })
    expect(after.decrypt(await storedOf('openai'))).toBe('sk-openai')
    expect(after.decrypt(await storedOf('anthropic'))).toBe('sk-ant')
    expect(await rotateSecrets(db(), during)).toEqual({ rotated: 0, current: 2, raced: 0, failed: [] })
  })

  it('reports a secret no key of the ring can read, and rotates the rest', async () => {
    const stranger = createVault({ masterKey: 'a-key-nobody-has-0123456789abcdefghij', dataDir })
    await saveProvider('mistral', stranger.encrypt('sk-lost'))
    await saveProvider('openai', createVault({ masterKey: oldKey, dataDir }).encrypt('sk-openai'))
    const result = await rotateSecrets(db(), createVault({ masterKey: newKey, dataDir, extraKeys: [oldKey] }))
    expect(result.rotated).toBe(1)
    expect(result.failed).toEqual([
      { where: 'provider mistral of workspace default', error: expect.stringContaining('master key') },
    ])
  })
})
