import { describe, expect, it } from 'vitest'
import { clientOf } from './client-address.ts'

describe('clientOf', () => {
  it('keeps an IPv4 address, unwraps an IPv4-mapped one, and groups IPv6 by /64', () => {
    expect(clientOf('192.0.2.1')).toBe('192.0.2.1')
    expect(clientOf('::ffff:192.0.2.1')).toBe('192.0.2.1')
    expect(clientOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::')
    expect(clientOf('2001:0DB8:0001:0002:abcd:ef01:2345:6789')).toBe('2001:db8:1:2::')
    expect(clientOf('2001:db8:1:3::1')).not.toBe(clientOf('2001:db8:1:2::1'))
    expect(clientOf('fe80::1%eth0')).toBe('fe80::')
    expect(clientOf(undefined)).toBe('unknown')
  })
})
