import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

// Passwords: scrypt from node:crypto (memory-hard, no native add-on), parameters in the stored value
// so they can be raised later without breaking old hashes.

const N = 2 ** 15
const r = 8
const p = 1
const keyLength = 32
export const minPasswordLength = 12

// The most used passwords and patterns of breach lists; a real list check can come later (decision 0011).
const common = [
  'password',
  '123456',
  'qwerty',
  'letmein',
  'welcome',
  'admin',
  'iloveyou',
  'monkey',
  'dragon',
  'openorch',
]

function derive(password: string, salt: Buffer, n: number, rr: number, pp: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyLength, { N: n, r: rr, p: pp, maxmem: 128 * n * rr * 2 }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, N, r, p)
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, rr, pp, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(rr), Number(pp))
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** What is wrong with a new password, or undefined when it is acceptable. */
export function passwordProblem(password: string, email: string): string | undefined {
  if (password.length < minPasswordLength) return `must be at least ${minPasswordLength} characters long`
  if (password.length > 1024) return 'must be at most 1024 characters long'
  const lower = password.toLowerCase()
  const local = email.split('@')[0]?.toLowerCase() ?? ''
  if (local.length >= 4 && lower.includes(local)) return 'must not contain your e-mail name'
  if (
    common.some((word) => lower.includes(word)) ||
    /^(.)\1+$/.test(password) ||
    /^(0123456789|1234567890|abcdefghij)/i.test(password)
  )
    return 'is too easy to guess (a common password or pattern); choose a longer passphrase'
  return undefined
}
