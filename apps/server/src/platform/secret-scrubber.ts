import { stdSerializers } from 'pino'

// A last line of defence for secrets (decision 0021): a provider key that was actually stored, and
// looks like a key, is registered here under its workspace and the slot it fills; API answers of
// that workspace, log lines and stored run errors are scrubbed of it — whatever path it took to get
// there (an upstream error quoting the key, say). Structured redaction of known fields (logger.ts)
// stays the first line.
//
// What the outside review broke (issue 11 item 1) and what holds now:
// - only stored keys register (never what a refused request submitted), and only ones long and varied
//   enough to be a secret, so nobody can register `{"items":[` or an everyday word;
// - scrubbing replaces inside string values, never in serialised JSON, so it cannot break structure;
// - an answer is scrubbed of its own workspace's keys only; identity fields of log lines (who, from
//   where, which request) are never scrubbed, and audit answers never;
// - the set is bounded (one key per workspace and slot: a rotation replaces, a removal deletes) and
//   matching is linear in the text: a few `includes` per workspace, a prefix index for the union.

export const minSecretLength = 16
const maxSecretLength = 4096
/** Bits per character: real keys are ~5–6; words, ids of one alphabet and repeated text are lower. */
const minEntropyBits = 3
const replacement = '[redacted]'
/** Up to this many secrets, a search per secret is cheaper than the prefix index. */
const fewSecrets = 8

// Identities are never secrets: a "key" equal to someone's id or e-mail address would otherwise erase
// that identity from answers and logs (the outside attack set a provider key to a user's id). So a
// value that is, holds or is a piece of a UUID (all our ids: users, keys, bots, runs, workspaces) or
// is an e-mail address never registers, and scrubbing never touches a UUID in a text (below).
const uuidPattern = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const holdsUuid = new RegExp(uuidPattern, 'i')
const uuidsIn = new RegExp(uuidPattern, 'gi')
/** Hex digits and dashes only, with a dash: the shape of a piece of a UUID (no key looks like that). */
const uuidPieceShape = /^[0-9a-f-]*-[0-9a-f-]*$/i
const emailShape = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Whether `value` looks like an identity (an id, a piece of one, an e-mail address), never a secret. */
export function looksLikeIdentity(value: string): boolean {
  return holdsUuid.test(value) || uuidPieceShape.test(value) || emailShape.test(value)
}

/** Whether `value` is long and varied enough to be treated as a secret (and scrubbed). */
export function isScrubbable(value: string | null | undefined): value is string {
  if (!value || value.length < minSecretLength || value.length > maxSecretLength) return false
  if (looksLikeIdentity(value)) return false
  return entropyBits(value) >= minEntropyBits
}

/**
 * `scrub` applied to `text` around its UUIDs, never across or inside one: a registered value that
 * begins or ends like a piece of someone's id (`…d4314e/runs`, `/users/01a23ee5`) cannot cut that
 * id out of a URL or a message.
 */
function outsideIds(text: string, scrub: Scrub): string {
  if (!holdsUuid.test(text)) return scrub(text)
  let out = ''
  let last = 0
  for (const match of text.matchAll(uuidsIn)) {
    out += scrub(text.slice(last, match.index)) + match[0]
    last = match.index + match[0].length
  }
  return out + scrub(text.slice(last))
}

function entropyBits(value: string): number {
  const counts = new Map<string, number>()
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1)
  let bits = 0
  for (const count of counts.values()) {
    const p = count / value.length
    bits -= p * Math.log2(p)
  }
  return bits
}

/** Replaces `secret` in `text` wherever it occurs (one linear search per secret). */
function replaceEach(text: string, secrets: Iterable<string>): string {
  let result = text
  for (const secret of secrets) if (result.includes(secret)) result = result.replaceAll(secret, replacement)
  return result
}

/**
 * A multiset of secrets with a linear-time scrub: positions are looked up by their first
 * `minSecretLength` characters, so the cost does not grow with the number of secrets.
 */
class SecretSet {
  private readonly counts = new Map<string, number>()
  /** Secrets by their first minSecretLength characters, longest first. */
  private readonly byPrefix = new Map<string, string[]>()

  get size(): number {
    return this.counts.size
  }

  add(secret: string): void {
    const count = this.counts.get(secret) ?? 0
    this.counts.set(secret, count + 1)
    if (count > 0) return
    const prefix = secret.slice(0, minSecretLength)
    const list = [...(this.byPrefix.get(prefix) ?? []), secret].sort((a, b) => b.length - a.length)
    this.byPrefix.set(prefix, list)
  }

  delete(secret: string): void {
    const count = this.counts.get(secret) ?? 0
    if (count > 1) {
      this.counts.set(secret, count - 1)
      return
    }
    if (count === 0) return
    this.counts.delete(secret)
    const prefix = secret.slice(0, minSecretLength)
    const list = (this.byPrefix.get(prefix) ?? []).filter((s) => s !== secret)
    if (list.length > 0) this.byPrefix.set(prefix, list)
    else this.byPrefix.delete(prefix)
  }

  scrub(text: string): string {
    if (this.counts.size === 0 || text.length < minSecretLength) return text
    if (this.counts.size <= fewSecrets) return replaceEach(text, this.counts.keys())
    let out = ''
    let last = 0
    let i = 0
    while (i + minSecretLength <= text.length) {
      const candidates = this.byPrefix.get(text.slice(i, i + minSecretLength))
      const hit = candidates?.find((secret) => text.startsWith(secret, i))
      if (hit) {
        out += text.slice(last, i) + replacement
        i += hit.length
        last = i
      } else i++
    }
    return last === 0 ? text : out + text.slice(last)
  }
}

export type Scrub = (text: string) => string

/** Fields that say who did what, from where, in which request: never scrubbed (logs and answers). */
const identityFields = new Set([
  'id',
  'req',
  'res',
  'ip',
  'remoteAddress',
  'by',
  'createdBy',
  'email',
  'owner',
  // A page's position is an id too: a rewritten cursor would break paging.
  'cursor',
  'nextCursor',
])

/** `id`, `tenantId`, `userId`, `keyId`, `runId`, `createdBy`, `by`, `actor`, `actorRole`, … */
export function isIdentityField(key: string): boolean {
  return identityFields.has(key) || key.endsWith('Id') || key.endsWith('Ids') || key.startsWith('actor')
}

export class SecretScrubber {
  /** tenant → slot (e.g. `provider:openai`) → secret. */
  private readonly tenants = new Map<string, Map<string, string>>()
  /** Every registered secret, for log lines and errors whose workspace is not known. */
  private readonly all = new SecretSet()

  /**
   * Registers the secret stored in `slot` of `tenantId`, replacing what the slot held; `null` (or a
   * value that does not look like a secret) empties the slot.
   */
  set(tenantId: string, slot: string, secret: string | null | undefined): void {
    let slots = this.tenants.get(tenantId)
    const previous = slots?.get(slot)
    const next = isScrubbable(secret) ? secret : undefined
    if (previous === next) return
    if (previous !== undefined) {
      this.all.delete(previous)
      slots?.delete(slot)
    }
    if (next !== undefined) {
      if (!slots) {
        slots = new Map()
        this.tenants.set(tenantId, slots)
      }
      slots.set(slot, next)
      this.all.add(next)
    }
    if (slots?.size === 0) this.tenants.delete(tenantId)
  }

  /** How many secrets are registered, over all workspaces. */
  get size(): number {
    return this.all.size
  }

  /** Scrubs one workspace's secrets (an API answer of that workspace, one of its run errors). */
  forTenant(tenantId: string | null | undefined): Scrub {
    const slots = tenantId ? this.tenants.get(tenantId) : undefined
    if (!slots || slots.size === 0) return (text) => text
    const secrets = [...slots.values()].sort((a, b) => b.length - a.length)
    return (text) =>
      text.length < minSecretLength ? text : outsideIds(text, (part) => replaceEach(part, secrets))
  }

  /**
   * Whether serialised JSON of an answer of `tenantId` carries one of its secrets: one search per
   * secret (in its JSON-escaped form), so the common answer is not parsed again.
   */
  jsonCarriesSecret(tenantId: string | null | undefined, json: string): boolean {
    const slots = tenantId ? this.tenants.get(tenantId) : undefined
    if (!slots) return false
    for (const secret of slots.values()) if (json.includes(JSON.stringify(secret).slice(1, -1))) return true
    return false
  }

  /** Scrubs every registered secret: for text whose workspace is not known (log lines). */
  scrub(text: string): string {
    return this.all.size === 0 ? text : outsideIds(text, (part) => this.all.scrub(part))
  }

  /** A log line's fields, scrubbed inside string values; identity fields are left as they are. */
  scrubLogFields(fields: Record<string, unknown>): Record<string, unknown> {
    if (this.all.size === 0) return fields
    const scrub: Scrub = (text) => this.scrub(text)
    let changed: Record<string, unknown> | undefined
    for (const [key, value] of Object.entries(fields)) {
      if (isIdentityField(key)) continue
      const plain = value instanceof Error ? stdSerializers.err(value) : value
      const scrubbed = scrubValues(plain, scrub)
      if (scrubbed === plain) continue
      changed ??= { ...fields }
      changed[key] = scrubbed
    }
    return changed ?? fields
  }
}

/**
 * `value` with `scrub` applied to every string inside it (object keys and identity fields stay); returns `value` itself
 * when nothing changed, so an answer without secrets is not copied. Depth is bounded by the JSON
 * depth limit of requests (body-parser.ts); cycles are not followed.
 */
export function scrubValues<T>(value: T, scrub: Scrub, seen = new Set<object>()): T {
  if (typeof value === 'string') return scrub(value) as T
  if (value === null || typeof value !== 'object' || seen.has(value)) return value
  if (ArrayBuffer.isView(value) || value instanceof Date) return value
  seen.add(value)
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    value.forEach((item, index) => {
      const scrubbed = scrubValues(item, scrub, seen)
      if (scrubbed === item) return
      copy ??= [...value]
      copy[index] = scrubbed
    })
    return (copy ?? value) as T
  }
  // Objects with their own toJSON (a Date was handled above) are serialised as that.
  const json = (value as { toJSON?: () => unknown }).toJSON
  const source = (typeof json === 'function' ? json.call(value) : value) as Record<string, unknown>
  if (source !== value) return scrubValues(source, scrub, seen) as T
  let copy: Record<string, unknown> | undefined
  for (const [key, item] of Object.entries(source)) {
    if (isIdentityField(key)) continue
    const scrubbed = scrubValues(item, scrub, seen)
    if (scrubbed === item) continue
    copy ??= { ...source }
    copy[key] = scrubbed
  }
  return (copy ?? value) as T
}

/** The process's scrubber: secrets are per process, like the vault that reveals them. */
export const secretScrubber = new SecretScrubber()
