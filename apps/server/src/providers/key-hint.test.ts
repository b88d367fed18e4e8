import { describe, expect, it } from 'vitest'
import { maskApiKey } from './key-hint.ts'

describe('maskApiKey', () => {
  it('keeps the key prefix and the last four characters', () => {
    expect(maskApiKey('sk-proj-abcdefghijklmnop3456')).toBe('sk-…3456')
    expect(maskApiKey('sk-ant-api03-abcdefghijkl9876')).toBe('sk-…9876')
    expect(maskApiKey('AIzaSyAbcdefghijklmnopqrstu1234')).toBe('…1234')
  })

  it('shows no tail of a short key', () => {
    expect(maskApiKey('sk-short')).toBe('sk-…')
    expect(maskApiKey('secret')).toBe('…')
  })
})
