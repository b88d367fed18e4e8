// A last line of defence for secrets: every secret value the process handles (provider keys when
// saved or decrypted) is registered here, and every log line, API answer and stored run error is
// scrubbed of it — whatever path it took to get there (an upstream error quoting the key, say).
// Structured redaction of known fields (logger.ts) stays the first line.

const minSecretLength = 8
const replacement = '[redacted]'

export class SecretScrubber {
  private readonly secrets = new Set<string>()
  private pattern: RegExp | undefined

  add(secret: string | null | undefined): void {
    if (!secret || secret.length < minSecretLength || this.secrets.has(secret)) return
    this.secrets.add(secret)
    // Longest first, so a secret that contains another is replaced whole.
    const escaped = [...this.secrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    this.pattern = new RegExp(escaped.join('|'), 'g')
  }

  scrub(text: string): string {
    if (!this.pattern || text.length < minSecretLength) return text
    return text.replace(this.pattern, replacement)
  }
}

/** The process's scrubber: secrets are per process, like the vault that reveals them. */
export const secretScrubber = new SecretScrubber()
