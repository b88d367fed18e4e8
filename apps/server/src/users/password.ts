import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { minPasswordLength, type PasswordRefusalCode } from '@openorch/contracts'
import { AppError } from '../platform/errors.ts'

// Passwords: scrypt from node:crypto (memory-hard, no native add-on), parameters in the stored value
// so they can be raised later without breaking old hashes.

const N = 2 ** 15
const r = 8
const p = 1
const keyLength = 32

export { minPasswordLength }

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

/**
 * Bounds concurrent scrypt work (issue 11, item 9). Each hash takes ~32 MiB and ~50 ms of one libuv
 * thread (4 by default, shared with file and DNS work): without a bound, a burst of anonymous
 * sign-ins queues hashes without limit, holding memory and delaying everyone's sign-in. At most
 * `concurrency` hashes run and `queue` wait; beyond that a request is refused at once with 503
 * `sign_in_busy` and Retry-After, so clients back off instead of piling up.
 */
export interface HashLimiter {
  run<T>(work: () => Promise<T>): Promise<T>
}

export function createHashLimiter(options: { concurrency: number; queue: number }): HashLimiter {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new Error('createHashLimiter: concurrency must be a positive integer')
  if (!Number.isInteger(options.queue) || options.queue < 0)
    throw new Error('createHashLimiter: queue must be a non-negative integer')
  let running = 0
  const waiting: Array<() => void> = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else running--
  }
  return {
    async run(work) {
      if (running < options.concurrency) running++
      else if (waiting.length < options.queue) await new Promise<void>((resolve) => waiting.push(resolve))
      else
        throw new AppError(
          'sign_in_busy',
          'Too many sign-ins are being checked right now. Try again in a second.',
          503,
          { retryAfterMs: 1000 },
        )
      // A released slot passes straight to the next waiter, so `running` counts it already.
      try {
        return await work()
      } finally {
        release()
      }
    },
  }
}

/** The process's limiter: libuv's default thread pool has 4 threads; up to 16 more hashes wait (well under a second). */
export const defaultHashLimiter = createHashLimiter({ concurrency: 4, queue: 16 })

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, rr, pp, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(rr), Number(pp))
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

// Strength and breach checks by zxcvbn-ts: its common-password list (the most used passwords of
// breach corpora), keyboard patterns, sequences, repeats, dates and l33t variants. A password must be
// estimated at 10^8 guesses or more (score 3): with scrypt and sign-in throttling that is out of reach
// online, and slow offline. The dictionaries (~2 MB) load on the first check, not at start.
const minScore = 3
let checker: Promise<{ check(password: string, userInputs: string[]): Strength }> | undefined

interface Strength {
  score: number
  sequence: Array<{ pattern: string; dictionaryName?: string; token: string }>
}

function strengthChecker() {
  checker ??= (async () => {
    const [{ ZxcvbnFactory }, common] = await Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
    ])
    const zxcvbn = new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs })
    return {
      check: (password: string, userInputs: string[]) => zxcvbn.check(password, userInputs) as Strength,
    }
  })()
  return checker
}

/** Why a new password is refused: a stable code (the dashboard words it) and the English sentence. */
export interface PasswordProblem {
  code: PasswordRefusalCode
  message: string
}

const refusal = (code: PasswordRefusalCode, message: string): PasswordProblem => ({ code, message })

/** What is wrong with a new password, or undefined when it is acceptable. */
export async function passwordProblem(password: string, email: string): Promise<PasswordProblem | undefined> {
  if (password.length < minPasswordLength)
    return refusal('password_too_short', `must be at least ${minPasswordLength} characters long`)
  if (password.length > 1024) return refusal('password_too_long', 'must be at most 1024 characters long')
  const local = email.split('@')[0]?.toLowerCase() ?? ''
  if (local.length >= 4 && password.toLowerCase().includes(local))
    return refusal('password_contains_email', 'must not contain your e-mail name')
  // zxcvbn's matching grows with the length; the first 100 characters decide (longer is stronger anyway).
  const strength = (await strengthChecker()).check(password.slice(0, 100), [
    local,
    ...email.split(/[@.+_-]/),
    'openorch',
    'openorchestrator',
  ])
  const [only] = strength.sequence
  if (strength.sequence.length === 1 && only?.dictionaryName === 'passwords-common')
    return refusal(
      'password_breached',
      'appears in lists of breached passwords; choose another (a few unrelated words work well)',
    )
  if (strength.score < minScore)
    return refusal(
      'password_too_guessable',
      'is too easy to guess (a common password, word or pattern); choose a longer passphrase of unrelated words',
    )
  return undefined
}
