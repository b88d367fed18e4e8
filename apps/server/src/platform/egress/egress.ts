import dns, { type LookupAddress, type LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import { Agent, fetch as undiciFetch } from 'undici'

// One guard for every outbound URL the product calls (decision 0016): provider base URLs today; the
// tools, channels and agents reuse it. A URL's host is resolved, every address it resolves to is
// checked, and the connection goes to exactly the address that was checked (the check runs inside
// the socket's own DNS lookup, so a second answer — DNS rebinding — cannot slip in between).
// Refused unless the operator opens them (OPENORCH_EGRESS_ALLOW): loopback, private, link-local
// (cloud metadata), unique-local, unspecified, carrier-grade NAT, multicast and reserved ranges, and
// their IPv4-mapped and NAT64 spellings.

export type FetchFunction = typeof globalThis.fetch

/** Why a destination is refused: thrown from the connection's lookup, found again by `egressRefusal`. */
export class EgressRefusedError extends Error {
  readonly code = 'EGRESS_REFUSED'
  readonly host: string
  readonly address: string
  readonly range: string
  constructor(host: string, address: string, range: string) {
    const named = host === address ? address : `${host} (${address})`
    super(
      `${named} is ${/^[aeiou]/.test(range) ? 'an' : 'a'} ${range} address, which this installation does not call. An operator can open it with OPENORCH_EGRESS_ALLOW (a host, host:port or CIDR, e.g. ${suggestion(host, address)}).`,
    )
    this.host = host
    this.address = address
    this.range = range
    this.name = 'EgressRefusedError'
  }
}

const suggestion = (host: string, address: string) =>
  isIP(host)
    ? isIP(host) === 6
      ? `[${host}]`
      : host
    : `${host} or ${address.includes(':') ? `[${address}]` : address}`

/** The egress refusal somewhere in `error`'s cause chain (fetch wraps it as "fetch failed"). */
export function egressRefusal(error: unknown): EgressRefusedError | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current instanceof EgressRefusedError) return current
    current = current.cause
  }
  return undefined
}

// Ranges that are not "the internet", by name (RFC 6890 and friends).
const refusedRanges: Array<[range: string, cidrs: string[]]> = [
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['link-local (cloud metadata)', ['169.254.0.0/16', 'fe80::/10']],
  ['unique-local', ['fc00::/7']],
  ['carrier-grade NAT', ['100.64.0.0/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  [
    'reserved',
    [
      '192.0.0.0/24',
      '192.0.2.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4',
      '::/96',
      '::ffff:0:0:0/96',
      '100::/64',
      '2001:db8::/32',
    ],
  ],
]

const refusedLists = refusedRanges.map(([range, cidrs]) => {
  const list = new BlockList()
  for (const cidr of cidrs) addSubnet(list, cidr)
  return [range, list] as const
})

function addSubnet(list: BlockList, cidr: string): void {
  const [address, bits] = cidr.split('/') as [string, string]
  list.addSubnet(address, Number(bits), isIP(address) === 6 ? 'ipv6' : 'ipv4')
}

/**
 * The IPv4 address an IPv6 address carries, if it is an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64
 * (`64:ff9b::a.b.c.d`) one, in either spelling; these reach the IPv4 address and are judged as it.
 */
function embeddedIpv4(address: string): string | undefined {
  const match = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(
    address,
  )
  if (!match) return undefined
  if (match[1]) return match[1]
  const high = Number.parseInt(match[2]!, 16)
  const low = Number.parseInt(match[3]!, 16)
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

/** The name of the refused range `address` lies in, or undefined for an address on the internet. */
export function refusedRangeOf(address: string): string | undefined {
  const plain = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const v4 = embeddedIpv4(plain)
  const [checked, family] = v4
    ? [v4, 'ipv4' as const]
    : [plain, isIP(plain) === 6 ? ('ipv6' as const) : ('ipv4' as const)]
  for (const [range, list] of refusedLists) if (list.check(checked, family)) return range
  return undefined
}

/** An OPENORCH_EGRESS_ALLOW entry: a host or address (any port, or one), or a CIDR. */
export type EgressAllowEntry =
  | { kind: 'host'; host: string; port: number | undefined }
  | { kind: 'cidr'; cidr: string }

/** The entries when OPENORCH_EGRESS_ALLOW is not set: a local Ollama on its default port. */
export const defaultEgressAllow = '127.0.0.1:11434,[::1]:11434,localhost:11434'

/**
 * Parses OPENORCH_EGRESS_ALLOW: comma-separated hosts, `host:port` entries (`[v6]:port`) or CIDRs;
 * `none` opens nothing (configuration treats an empty variable as unset: the default). Throws naming the entry that is none of these.
 */
export function parseEgressAllow(text: string): EgressAllowEntry[] {
  const entries: EgressAllowEntry[] = []
  for (const raw of text.split(',')) {
    const entry = raw.trim().toLowerCase()
    if (entry === '' || entry === 'none') continue
    if (entry.includes('/')) {
      const [address, bits] = entry.split('/') as [string, string]
      const family = isIP(address)
      const max = family === 6 ? 128 : 32
      if (!family || !/^\d+$/.test(bits) || Number(bits) > max)
        throw new Error(`"${raw.trim()}" is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8).`)
      entries.push({ kind: 'cidr', cidr: `${address}/${Number(bits)}` })
      continue
    }
    const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry)
    const plain = /^([a-z0-9.-]+)(?::(\d+))?$/.exec(entry)
    const bareV6 = isIP(entry) === 6 ? [entry, entry, undefined] : null
    const match = bracketed ?? bareV6 ?? plain
    const port = match?.[2] === undefined ? undefined : Number(match[2])
    if (!match || (port !== undefined && (port < 1 || port > 65535)) || (bracketed && isIP(match[1]!) !== 6))
      throw new Error(
        `"${raw.trim()}" is not a host, host:port or CIDR (e.g. 127.0.0.1:11434, intranet.example, 10.0.0.0/8).`,
      )
    entries.push({ kind: 'host', host: match[1]!, port })
  }
  return entries
}

export interface EgressPolicy {
  /** Why connecting to `address` (resolved from `host`) on `port` is refused, or undefined when allowed. */
  refusal(host: string, address: string, port: number): EgressRefusedError | undefined
}

export function createEgressPolicy(
  allow: readonly EgressAllowEntry[],
  /** Told of every refusal (metrics: the range is a bounded label, the host is not). */
  options: { onRefused?: (refusal: EgressRefusedError) => void } = {},
): EgressPolicy {
  const opened = new BlockList()
  const hosts = allow.filter((entry) => entry.kind === 'host')
  for (const entry of allow) if (entry.kind === 'cidr') addSubnet(opened, entry.cidr)
  const isOpened = (host: string, address: string, port: number) => {
    const v4 = embeddedIpv4(address)
    const [checked, family] = v4
      ? [v4, 'ipv4' as const]
      : [address, isIP(address) === 6 ? ('ipv6' as const) : ('ipv4' as const)]
    if (opened.check(checked, family)) return true
    return hosts.some(
      (entry) =>
        (entry.port === undefined || entry.port === port) &&
        (entry.host === host.toLowerCase() || entry.host === address || entry.host === v4),
    )
  }
  return {
    refusal(host, address, port) {
      const range = refusedRangeOf(address)
      if (range === undefined || isOpened(host.replace(/^\[|\]$/g, ''), address, port)) return undefined
      const refused = new EgressRefusedError(host.replace(/^\[|\]$/g, ''), address, range)
      options.onRefused?.(refused)
      return refused
    },
  }
}

const defaultPort = (url: URL) => (url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80)

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

/**
 * fetch through the guard: an address literal is checked before anything is sent, a name is checked
 * in the connection's own lookup (every address it resolves to), so the socket connects to exactly
 * what was checked. Redirects are the caller's (providers do not follow them: upstream-guard.ts).
 */
export function egressFetch(policy: EgressPolicy): FetchFunction {
  // The socket's lookup is not told the port, and an allow entry may name one: one agent per port.
  const agents = new Map<number, Agent>()
  const agentFor = (port: number) => {
    let agent = agents.get(port)
    if (!agent) {
      agent = new Agent({ connect: { lookup: checkedLookup(policy, port) } as never })
      agents.set(port, agent)
    }
    return agent
  }
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const port = defaultPort(url)
    if (isIP(host)) {
      const refused = policy.refusal(host, host, port)
      if (refused) throw new TypeError('fetch failed', { cause: refused })
    }
    return undiciFetch(input as never, { ...(init as object), dispatcher: agentFor(port) } as never)
  }) as unknown as FetchFunction
}

/** dns.lookup that refuses when any address the name resolves to is refused. */
function checkedLookup(policy: EgressPolicy, port: number) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, [])
      for (const { address } of addresses) {
        const refused = policy.refusal(hostname, address, port)
        if (refused) return callback(refused, [])
      }
      if (options.all) return callback(null, addresses)
      const first = addresses[0]!
      callback(null, first.address, first.family)
    })
  }
}
