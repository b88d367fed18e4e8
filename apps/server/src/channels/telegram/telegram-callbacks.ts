import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// The approval buttons' callback data. Telegram allows 64 bytes, so the data names a row of
// telegram_callbacks (approval, decision, expiry, used) by a short random id, signed with a key derived
// from the vault: `a1.<id>.<signature>`, 41 bytes. A forged or altered button fails the signature
// before any row is read; a copied one from another channel fails it too (the channel is signed).

const prefix = 'a1'

export function newCallbackId(): string {
  return randomBytes(9).toString('base64url')
}

function signatureOf(key: Uint8Array, channelId: string, id: string): string {
  return createHmac('sha256', key).update(`${channelId}:${id}`).digest().subarray(0, 16).toString('base64url')
}

export function signCallback(key: Uint8Array, channelId: string, id: string): string {
  return `${prefix}.${id}.${signatureOf(key, channelId, id)}`
}

/** The row id a callback's data names, or undefined when it is not ours or its signature is wrong. */
export function verifyCallback(key: Uint8Array, channelId: string, data: string): string | undefined {
  const match = /^a1\.([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{22})$/.exec(data)
  if (!match) return undefined
  const [, id, signature] = match as unknown as [string, string, string]
  const expected = Buffer.from(signatureOf(key, channelId, id))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given) ? id : undefined
}
