// http_fetch of a local 1 MB HTML page, in its own process, against plain fetch + cheerio doing the
// same reading (title, body text, links). The page is served by the suite's process. Prints one
// JSON line. Usage: node bench/dist/fetch.run.js <json options>
//
// ours: the web tool set's http_fetch as a bot calls it — the egress guard (DNS, the address
//   checked, a connection to exactly that address), redirects by hand, a size cap, HTML reduced to
//   readable text (at most 100,000 characters) with its links and title.
// peer: fetch(url), then cheerio.load, $('title').text(), the body's text with whitespace
//   collapsed, and the first 200 links made absolute.

import { load } from 'cheerio'
import { createEgressPolicy, parseEgressAllow } from '../../../apps/server/src/platform/egress/egress.ts'
import { webToolSet } from '../../../apps/server/src/tools/web/web.tool-set.ts'
import { type Summary, summarise } from './stats.ts'

export interface FetchOptions {
  url: string
  samples: number
}

export interface FetchResult {
  pageBytes: number
  oursMs: Summary
  peerMs: Summary
  /** Characters of text each returned (ours cuts at 100,000). */
  oursTextChars: number
  peerTextChars: number
}

const options = JSON.parse(process.argv[2] ?? '{}') as FetchOptions
const now = () => performance.now()
const httpFetch = webToolSet.functions.find((fn) => fn.name === 'http_fetch')!
const context = {
  tenantId: 'default',
  runId: 'bench',
  signal: new AbortController().signal,
  egress: createEgressPolicy(parseEgressAllow(new URL(options.url).host)),
}

let oursTextChars = 0
let pageBytes = 0
async function ours(): Promise<number> {
  const start = now()
  const result = (await httpFetch.execute(httpFetch.input.parse({ url: options.url }), context)) as {
    text: string
    bytes: number
    links: unknown[]
  }
  const ms = now() - start
  oursTextChars = result.text.length
  pageBytes = result.bytes
  return ms
}

let peerTextChars = 0
async function peer(): Promise<number> {
  const start = now()
  const response = await fetch(options.url)
  const html = await response.text()
  const $ = load(html)
  const title = $('title').first().text().trim()
  const text = $('body').text().replace(/\s+/g, ' ').trim()
  const base = new URL(response.url)
  const links = $('a[href]')
    .toArray()
    .slice(0, 200)
    .map((a) => ({ text: $(a).text().trim(), url: new URL($(a).attr('href')!, base).href }))
  const ms = now() - start
  if (title === '' || links.length === 0) throw new Error('the peer read no title or links')
  peerTextChars = text.length
  return ms
}

// Alternating, after a warm-up of each, so both see the same machine.
for (let i = 0; i < 3; i++) {
  await ours()
  await peer()
}
const oursSamples: number[] = []
const peerSamples: number[] = []
for (let i = 0; i < options.samples; i++) {
  oursSamples.push(await ours())
  peerSamples.push(await peer())
}
const result: FetchResult = {
  pageBytes,
  oursMs: summarise(oursSamples),
  peerMs: summarise(peerSamples),
  oursTextChars,
  peerTextChars,
}
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
