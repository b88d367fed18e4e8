import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createEgressPolicy,
  defaultEgressAllow,
  EgressRefusedError,
  egressFetch,
  egressRefusal,
  parseEgressAllow,
  refusedRangeOf,
} from './egress.ts'

// Issue 11 item 3: every loopback spelling reached loopback, link-local metadata was contacted.
// A real listener on 127.0.0.1 stands for what must not be reached; it counts what reaches it.

let server: http.Server
let port: number
let hits = 0

beforeAll(async () => {
  server = http.createServer((_request, response) => {
    hits++
    response.end('{"data":[]}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const strict = () => egressFetch(createEgressPolicy(parseEgressAllow('none')))

async function refusal(fetch: typeof globalThis.fetch, url: string): Promise<EgressRefusedError> {
  const error = await fetch(url).then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  const refused = egressRefusal(error)
  if (!refused) throw new Error(`${url} was not refused: ${String(error)}`)
  return refused
}

describe('the egress guard', () => {
  it.each([
    ['http://127.0.0.1:PORT/'],
    ['http://2130706433:PORT/'],
    ['http://0x7f000001:PORT/'],
    ['http://0177.0.0.1:PORT/'],
    ['http://127.1:PORT/'],
    ['http://0.0.0.0:PORT/'],
    ['http://[::1]:PORT/'],
    ['http://[::ffff:127.0.0.1]:PORT/'],
    ['http://[::ffff:7f00:1]:PORT/'],
    ['http://[64:ff9b::7f00:1]:PORT/'],
    ['http://localhost:PORT/'],
  ])('refuses loopback spelt %s, and nothing reaches the listener', async (spelling) => {
    const before = hits
    const refused = await refusal(strict(), spelling.replace('PORT', String(port)))
    expect(['loopback', 'unspecified']).toContain(refused.range)
    expect(refused.message).toContain('OPENORCH_EGRESS_ALLOW')
    expect(hits).toBe(before)
  })

  it('refuses cloud metadata, private, unique-local and CGNAT addresses by name', async () => {
    const fetch = strict()
    expect((await refusal(fetch, 'http://169.254.169.254/latest/meta-data/')).range).toBe(
      'link-local (cloud metadata)',
    )
    expect((await refusal(fetch, 'http://[fd00:ec2::254]/')).range).toBe('unique-local')
    expect((await refusal(fetch, 'http://10.1.2.3/')).range).toBe('private')
    expect((await refusal(fetch, 'http://192.168.0.1:8080/')).range).toBe('private')
    expect((await refusal(fetch, 'http://100.64.0.1/')).range).toBe('carrier-grade NAT')
    expect(refusedRangeOf('172.31.255.255')).toBe('private')
    expect(refusedRangeOf('172.32.0.1')).toBeUndefined()
    expect(refusedRangeOf('8.8.8.8')).toBeUndefined()
    expect(refusedRangeOf('2606:4700::1111')).toBeUndefined()
    expect(refusedRangeOf('::ffff:10.0.0.1')).toBe('private')
    // IPv4-translated (SIIT) and IPv4-compatible forms are not the internet either.
    expect(refusedRangeOf('::ffff:0:7f00:1')).toBe('reserved')
    expect(refusedRangeOf('::7f00:1')).toBe('reserved')
    expect(refusedRangeOf('fe80::1%eth0')).toBe('link-local (cloud metadata)')
  })

  it('opens exactly what OPENORCH_EGRESS_ALLOW names: an address with a port, a CIDR, a host', async () => {
    const onPort = egressFetch(createEgressPolicy(parseEgressAllow(`127.0.0.1:${port}`)))
    expect((await onPort(`http://127.0.0.1:${port}/`)).status).toBe(200)
    // The same address on another port, and another loopback address, stay closed.
    await refusal(onPort, `http://127.0.0.1:${port + 1}/`)
    await refusal(onPort, `http://127.0.0.2:${port}/`)

    const cidr = egressFetch(createEgressPolicy(parseEgressAllow('127.0.0.0/8')))
    expect((await cidr(`http://127.0.0.1:${port}/`)).status).toBe(200)
    expect((await cidr(`http://localhost:${port}/`)).status).toBe(200)
    await refusal(cidr, 'http://169.254.169.254/')

    const host = egressFetch(createEgressPolicy(parseEgressAllow(`localhost:${port}`)))
    expect((await host(`http://localhost:${port}/`)).status).toBe(200)
    // The name was opened, not the address under another name.
    await refusal(host, `http://127.0.0.1:${port}/`)
  })

  it('by default opens a local Ollama on its port only', () => {
    const policy = createEgressPolicy(parseEgressAllow(defaultEgressAllow))
    expect(policy.refusal('localhost', '127.0.0.1', 11434)).toBeUndefined()
    expect(policy.refusal('127.0.0.1', '127.0.0.1', 11434)).toBeUndefined()
    expect(policy.refusal('::1', '::1', 11434)).toBeUndefined()
    expect(policy.refusal('localhost', '127.0.0.1', 6379)).toBeInstanceOf(EgressRefusedError)
    expect(policy.refusal('metadata', '169.254.169.254', 11434)).toBeInstanceOf(EgressRefusedError)
  })

  it('refuses a malformed OPENORCH_EGRESS_ALLOW entry, naming it', () => {
    expect(() => parseEgressAllow('10.0.0.0/33')).toThrow('"10.0.0.0/33" is not a CIDR')
    expect(() => parseEgressAllow('host:99999')).toThrow('"host:99999" is not a host')
    expect(() => parseEgressAllow('http://x')).toThrow('"http://x"')
    expect(parseEgressAllow(' none ')).toEqual([])
    expect(parseEgressAllow('[::1]:11434, Intranet.Example ,fd00::/8')).toEqual([
      { kind: 'host', host: '::1', port: 11434 },
      { kind: 'host', host: 'intranet.example', port: undefined },
      { kind: 'cidr', cidr: 'fd00::/8' },
    ])
  })
})
