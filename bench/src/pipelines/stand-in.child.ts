// The OpenAI-wire stand-in of the pipelines benchmark, in a process of its own so its CPU is not
// counted against the server measured: every answer at once (one streamed delta, no pause between
// frames). Prints its base URL, then serves until stdin closes.
import { startProviderServer } from '../../../apps/server/test/provider-servers/index.ts'

const apiKey = process.argv[2] ?? 'sk-bench-0123456789abcdef'
const server = await startProviderServer('openai', {
  apiKey,
  models: ['gpt-4o-mini'],
  chunkDelayMs: 0,
  behaviour: { type: 'success', text: 'Two new offers: 39.90 € at shop A, 35 € at shop B.', chunks: 1 },
})
process.stdout.write(`${server.baseUrl}\n`)
// Requests are recorded by the stand-in; a long benchmark does not need them.
setInterval(() => server.requests.splice(0), 1000).unref()
process.stdin.resume()
process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
