import { describe, expect, it } from 'vitest'
import { hashPassword, passwordProblem, verifyPassword } from './password.ts'

describe('new passwords', () => {
  const problem = async (password: string) =>
    (await passwordProblem(password, 'anna.berg@example.com'))?.message
  const codeOf = async (password: string) => (await passwordProblem(password, 'anna.berg@example.com'))?.code

  it('refuses passwords from breach lists, saying so', async () => {
    for (const breached of ['finalfantasy', 'leavemealone', 'qwerty123456', '1qaz2wsx3edc'])
      expect(await problem(breached), breached).toMatch(/breached|too easy/)
    expect(await problem('finalfantasy')).toMatch(/appears in lists of breached passwords/)
    expect(await codeOf('finalfantasy')).toBe('password_breached')
  })

  it('refuses guessable patterns: keyboard walks, sequences, repeats, l33t and the e-mail name', async () => {
    for (const weak of [
      'qwertyuiopasdfghjkl',
      '1q2w3e4r5t6y7u8i9o0p',
      '12345678901234',
      'passwordpassword',
      'P@ssw0rd2024!',
      'xxxxxxxxxxxxxxxx',
      'openorchestrator',
    ])
      expect(await problem(weak), weak).toMatch(/too easy to guess|breached/)
    expect(await problem('my anna.berg secret')).toMatch(/e-mail name/)
    expect(await problem('short')).toMatch(/at least 12/)
    expect(await problem('x'.repeat(1025))).toMatch(/at most 1024/)
    // Each refusal has its stable code (the dashboard words it in the person's language).
    expect(await codeOf('passwordpassword')).toMatch(/^password_(too_guessable|breached)$/)
    expect(await codeOf('xxxxxxxxxxxxxxxx')).toBe('password_too_guessable')
    expect(await codeOf('my anna.berg secret')).toBe('password_contains_email')
    expect(await codeOf('short')).toBe('password_too_short')
    expect(await codeOf('x'.repeat(1025))).toBe('password_too_long')
  })

  it('accepts passphrases of unrelated words and long random strings', async () => {
    for (const strong of [
      'violet tram over the quiet river',
      'correct horse battery staple',
      'k8#Vq2!mZr9@Lw',
    ])
      expect(await problem(strong), strong).toBeUndefined()
    // Long input is checked quickly (only the first 100 characters are matched).
    const started = performance.now()
    expect(await problem(`${'violet tram over the quiet river '.repeat(30)}`)).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  it('hashes with scrypt and verifies only the right password', async () => {
    const hash = await hashPassword('violet tram over the quiet river')
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(await verifyPassword('violet tram over the quiet river', hash)).toBe(true)
    expect(await verifyPassword('violet tram over the quiet rivers', hash)).toBe(false)
    expect(await verifyPassword('x', 'md5$abc')).toBe(false)
  })
})
