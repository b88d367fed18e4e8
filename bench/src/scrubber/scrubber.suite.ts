// `npm run bench -- scrubber`: what the secret scrubber costs an answer and a log line as secrets pile
// up (issue 11 item 1: hundreds of junk keys made every answer ten times slower). The old scrubber
// (one regular expression over every registered value, applied to the serialised answer) is measured
// beside the new one (decision 0021) on the same answer: 100 bots as GET /bots returns them.
import { performance } from 'node:perf_hooks'
import { SecretScrubber, scrubValues } from '../../../apps/server/src/platform/secret-scrubber.ts'

/** The scrubber before issue 11, kept here as the peer to compare with. */
class RegexScrubber {
  private readonly secrets = new Set<string>()
  private pattern: RegExp | undefined
  add(secret: string): void {
    this.secrets.add(secret)
    const escaped = [...this.secrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    this.pattern = new RegExp(escaped.join('|'), 'g')
  }
  scrub(text: string): string {
    return this.pattern ? text.replace(this.pattern, '[redacted]') : text
  }
}

const answer = {
  items: Array.from({ length: 100 }, (_, i) => ({
    id: `0193a1b2-7c4d-7e8f-9a0b-${String(i).padStart(12, '0')}`,
    name: `Nike Air Max 90 offers under 40 € #${i}`,
    prompt: 'Look for new offers of Nike Air Max 90 under 40 € on the shops I follow and list them.',
    provider: 'openai',
    model: 'gpt-4o-mini',
    schedule: '0 8 * * *',
    lastRun: { status: 'completed', output: 'Two new offers: 39.90 € at shop A, 35 € at shop B.' },
  })),
  nextCursor: null,
}
const logLine = { reqId: 'req-42', detail: 'provider answered 500: upstream said something long enough' }
// What the review submitted: fragments of answers (each refused by the provider, registered anyway
// by the old scrubber), and key-like junk that passes as a secret.
const junkOf = (i: number) =>
  i % 2 === 0 ? `"id":"0193a1b2-${i}` : `sk-junk-${i.toString(36)}-Xq7mW2pLz9TbR4v${i}`

function timeUs(fn: () => void, iterations: number): number {
  for (let i = 0; i < Math.min(50, iterations); i++) fn()
  const start = performance.now()
  for (let i = 0; i < iterations; i++) fn()
  return ((performance.now() - start) * 1000) / iterations
}

export function runScrubberSuite(options: { counts: number[] }): void {
  const rows: string[] = []
  for (const count of options.counts) {
    const old = new RegexScrubber()
    const next = new SecretScrubber()
    // The junk is spread over 1,000 workspaces (as if it were stored: the new scrubber registers only
    // the key-like half); the answering workspace has one real key.
    for (let i = 0; i < count; i++) {
      old.add(junkOf(i))
      next.set(`t${i % 1000}`, `provider:p${Math.floor(i / 1000)}`, junkOf(i))
    }
    next.set('mine', 'provider:openai', 'sk-proj-Mine7Hq2Xw9Ln3PaZ')
    const iterations = count >= 1000 ? 200 : 1000
    const baseline = timeUs(() => JSON.stringify(answer), iterations)
    const oldAnswer = timeUs(() => old.scrub(JSON.stringify(answer)), iterations)
    const mine = next.forTenant('mine')
    // As security-headers.ts does it: a search of the serialised answer, parsed again only on a hit.
    const newAnswer = timeUs(() => {
      const json = JSON.stringify(answer)
      if (next.jsonCarriesSecret('mine', json)) JSON.stringify(scrubValues(JSON.parse(json), mine))
    }, iterations)
    const line = JSON.stringify(logLine)
    const oldLog = timeUs(() => old.scrub(line), iterations * 10)
    const newLog = timeUs(() => next.scrubLogFields(logLine), iterations * 10)
    rows.push(
      `| ${count} | ${baseline.toFixed(0)} | ${oldAnswer.toFixed(0)} (${(oldAnswer / baseline).toFixed(1)}×) | ${newAnswer.toFixed(0)} (${(newAnswer / baseline).toFixed(1)}×) | ${oldLog.toFixed(2)} | ${newLog.toFixed(2)} |`,
    )
  }
  process.stdout.write(
    [
      '| junk keys submitted | serialise 100 bots (µs) | old: regex over the JSON | new: per workspace, inside values | old log line (µs) | new log line (µs) |',
      '|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  )
}
