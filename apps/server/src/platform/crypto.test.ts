import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createVault, masterKeyFileName, VaultError } from './crypto.ts'

describe('vault', () => {
  let dataDir: string
  const masterKey = 'a-master-key-of-at-least-32-characters!'

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-vault-'))
  })
  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true })
  })

  function errorOf(fn: () => unknown): VaultError {
    try {
      fn()
    } catch (error) {
      if (error instanceof VaultError) return error
      throw error
    }
    throw new Error('expected a VaultError')
  }

  it('round-trips a secret, with a fresh nonce each time', () => {
    const vault = createVault({ masterKey, dataDir })
    const secret = 'sk-test-1234567890 äöü 🔑'
    const first = vault.encrypt(secret)
    const second = vault.encrypt(secret)
    expect(first).not.toBe(second)
    expect(first).not.toContain('sk-test')
    expect(vault.decrypt(first)).toBe(secret)
    expect(vault.decrypt(second)).toBe(secret)
  })

  it('stores a version and the key id in front of the ciphertext', () => {
    const vault = createVault({ masterKey, dataDir })
    expect(vault.keyId).toMatch(/^[0-9a-f]{16}$/)
    const [version, keyId] = vault.encrypt('x').split('.')
    expect(version).toBe('v1')
    expect(keyId).toBe(vault.keyId)
    // The same master key always yields the same id; another key another id.
    expect(createVault({ masterKey, dataDir }).keyId).toBe(vault.keyId)
    expect(createVault({ masterKey: `${masterKey}2`, dataDir }).keyId).not.toBe(vault.keyId)
  })

  it('refuses a tampered ciphertext, tag or relabelled header', () => {
    const vault = createVault({ masterKey, dataDir })
    const parts = vault.encrypt('secret value').split('.')
    const flip = (text: string) => {
      const bytes = Buffer.from(text, 'base64url')
      bytes[0] = (bytes[0] ?? 0) ^ 1
      return bytes.toString('base64url')
    }
    const withPart = (index: number, value: string) =>
      parts.map((part, i) => (i === index ? value : part)).join('.')
    expect(errorOf(() => vault.decrypt(withPart(4, flip(parts[4]!)))).code).toBe('vault_tampered')
    expect(errorOf(() => vault.decrypt(withPart(3, flip(parts[3]!)))).code).toBe('vault_tampered')
    expect(errorOf(() => vault.decrypt(withPart(2, flip(parts[2]!)))).code).toBe('vault_tampered')
  })

  it('refuses a value made with another master key, naming both key ids', () => {
    const stored = createVault({ masterKey, dataDir }).encrypt('secret')
    const other = createVault({ masterKey: 'another-master-key-of-32-characters-or-more', dataDir })
    const error = errorOf(() => other.decrypt(stored))
    expect(error.code).toBe('vault_key_mismatch')
    expect(error.message).toContain(other.keyId)
    expect(error.message).toContain('OPENORCH_MASTER_KEY')
  })

  it('refuses values that are not in its format', () => {
    const vault = createVault({ masterKey, dataDir })
    expect(errorOf(() => vault.decrypt('plain text')).code).toBe('vault_malformed')
    expect(errorOf(() => vault.decrypt(vault.encrypt('x').replace(/^v1/, 'v9'))).code).toBe('vault_malformed')
  })

  it('generates a 0600 master key file once and reuses it', () => {
    const nested = path.join(dataDir, 'data')
    const first = createVault({ dataDir: nested })
    const file = path.join(nested, masterKeyFileName)
    const stat = fs.statSync(file)
    expect(stat.mode & 0o777).toBe(0o600)
    const content = fs.readFileSync(file, 'utf8')
    expect(content.trim().length).toBeGreaterThanOrEqual(32)

    const stored = first.encrypt('kept across restarts')
    const second = createVault({ dataDir: nested })
    expect(second.keyId).toBe(first.keyId)
    expect(second.decrypt(stored)).toBe('kept across restarts')
    expect(fs.readFileSync(file, 'utf8')).toBe(content)
  })

  it('does not write a key file when a master key is given', () => {
    createVault({ masterKey, dataDir })
    expect(fs.existsSync(path.join(dataDir, masterKeyFileName))).toBe(false)
  })

  it('refuses a master key shorter than 32 characters', () => {
    expect(() => createVault({ masterKey: 'short', dataDir })).toThrow(/at least 32/)
    fs.writeFileSync(path.join(dataDir, masterKeyFileName), 'too short\n', { mode: 0o600 })
    expect(errorOf(() => createVault({ dataDir })).code).toBe('vault_malformed')
  })
})
