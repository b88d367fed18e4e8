import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { ensurePrivateDir } from './private-files.ts'

// A small vault for secrets at rest (provider keys, channel credentials): AES-256-GCM under a key
// derived from the master key. Stored form: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
// The key id names the master key without revealing it, so a later master-key rotation can tell
// which rows still carry the old key and re-encrypt them.

export interface Vault {
  /** Fingerprint of the master key (16 hex chars); part of every stored value. */
  readonly keyId: string
  encrypt(plain: string): string
  /** Throws VaultError when the value is not ours, was made with another master key, or was altered. */
  decrypt(stored: string): string
  /** Whether a stored value was made with another (extra) key and should be encrypted again. */
  needsRotation(stored: string): boolean
  /** A 32-byte key for another purpose (session signing), derived from the master key. */
  deriveKey(purpose: string): Uint8Array
}

export interface VaultOptions {
  /** OPENORCH_MASTER_KEY; unset: a key generated once into `<dataDir>/master.key` (mode 0600). */
  masterKey?: string | undefined
  dataDir: string
  /**
   * OPENORCH_EXTRA_MASTER_KEYS: more keys this process can decrypt with (never encrypts with), so
   * master keys can be rotated without downtime (`openorch secrets rotate`, decision 0010).
   */
  extraKeys?: readonly string[]
}

export type VaultErrorCode = 'vault_malformed' | 'vault_key_mismatch' | 'vault_tampered'

export class VaultError extends Error {
  readonly code: VaultErrorCode
  constructor(code: VaultErrorCode, message: string) {
    super(message)
    this.name = 'VaultError'
    this.code = code
  }
}

export const masterKeyFileName = 'master.key'
const version = 'v1'
const ivBytes = 12 // the GCM standard nonce size
const tagBytes = 16
const minMasterKeyChars = 32

/**
 * HKDF is enough here (no scrypt): the master key is a 32+ character random secret, not a password,
 * so there is nothing for a slow hash to protect against.
 */
function deriveKeys(masterKey: string): { key: Buffer; keyId: string } {
  const key = Buffer.from(
    hkdfSync('sha256', masterKey, 'openorch-vault', 'openorch vault v1 aes-256-gcm', 32),
  )
  const keyId = createHmac('sha256', key).update('openorch vault key id').digest('hex').slice(0, 16)
  return { key, keyId }
}

/** Reads the generated master key, creating it first (0600, exclusively) when there is none. */
function loadOrCreateMasterKeyFile(dataDir: string): string {
  const file = path.join(dataDir, masterKeyFileName)
  ensurePrivateDir(dataDir)
  try {
    // 'wx' fails when the file exists: two processes starting at once agree on the first one's key.
    fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const key = fs.readFileSync(file, 'utf8').trim()
  if (key.length < minMasterKeyChars) {
    throw new VaultError(
      'vault_malformed',
      `The master key file ${file} holds fewer than ${minMasterKeyChars} characters. Restore it from a backup, or set OPENORCH_MASTER_KEY to the key the secrets were saved with.`,
    )
  }
  return key
}

export function createVault(options: VaultOptions): Vault {
  const masterKey = options.masterKey ?? loadOrCreateMasterKeyFile(options.dataDir)
  if (masterKey.length < minMasterKeyChars)
    throw new Error(`The master key must be at least ${minMasterKeyChars} characters long.`)
  const { key, keyId } = deriveKeys(masterKey)
  const keyring = new Map<string, Buffer>([[keyId, key]])
  for (const extra of options.extraKeys ?? []) {
    if (extra.length < minMasterKeyChars)
      throw new Error(`Every extra master key must be at least ${minMasterKeyChars} characters long.`)
    const derived = deriveKeys(extra)
    if (!keyring.has(derived.keyId)) keyring.set(derived.keyId, derived.key)
  }

  return {
    keyId,
    needsRotation(stored) {
      return stored.split('.')[1] !== keyId
    },
    deriveKey(purpose) {
      return new Uint8Array(hkdfSync('sha256', masterKey, 'openorch-derived', purpose, 32))
    },
    encrypt(plain) {
      const iv = randomBytes(ivBytes)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      // The header is authenticated too: a value cannot be relabelled with another key id or version.
      cipher.setAAD(Buffer.from(`${version}.${keyId}`))
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      const tag = cipher.getAuthTag()
      return [version, keyId, iv, tag, ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.')
    },
    decrypt(stored) {
      const parts = stored.split('.')
      if (parts.length !== 5 || parts[0] !== version) {
        throw new VaultError(
          'vault_malformed',
          `The stored secret is not in the vault's ${version} format (it may have been written by a newer version or by hand).`,
        )
      }
      const [, storedKeyId, ivText, tagText, ciphertextText] = parts as [
        string,
        string,
        string,
        string,
        string,
      ]
      const storedKey = keyring.get(storedKeyId)
      if (!storedKey) {
        throw new VaultError(
          'vault_key_mismatch',
          `The secret was encrypted with master key ${storedKeyId}, but this server runs with master key ${keyId}. Set OPENORCH_MASTER_KEY (or restore ${masterKeyFileName} in the data directory) to the key it was saved with, add that key to OPENORCH_EXTRA_MASTER_KEYS, or save the secret again.`,
        )
      }
      const iv = Buffer.from(ivText, 'base64url')
      const tag = Buffer.from(tagText, 'base64url')
      if (iv.length !== ivBytes || tag.length !== tagBytes)
        throw new VaultError('vault_malformed', 'The stored secret has a damaged header.')
      try {
        const decipher = createDecipheriv('aes-256-gcm', storedKey, iv, { authTagLength: tagBytes })
        decipher.setAAD(Buffer.from(`${version}.${storedKeyId}`))
        decipher.setAuthTag(tag)
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertextText, 'base64url')),
          decipher.final(),
        ]).toString('utf8')
      } catch {
        throw new VaultError(
          'vault_tampered',
          'The stored secret failed its integrity check: it was altered or damaged. Save it again.',
        )
      }
    },
  }
}
