// The masked form of a key that people may see: enough to tell two keys apart, not to use one.

/** `sk-proj-abc…xyz3456` → `sk-…3456`; keys under 12 characters show no tail at all. */
export function maskApiKey(key: string): string {
  const prefix = /^[A-Za-z]{2,4}-/.exec(key)?.[0] ?? ''
  return key.length >= 12 ? `${prefix}…${key.slice(-4)}` : `${prefix}…`
}
