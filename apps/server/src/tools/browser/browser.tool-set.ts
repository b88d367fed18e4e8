import { createHash } from 'node:crypto'
import { load } from 'cheerio'
import type { Page } from 'playwright-core'
import { z } from 'zod'
import type { FileSpace, ToolSet } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'
import { absoluteUrl, reducePage } from '../web/html-text.ts'
import { type BrowserPool, checkSelectors, openPage } from './browser.ts'

// `browser`: pages as a person sees them, after their JavaScript ran, in headless Chromium (the
// pool in browser.ts: a fresh context per call, every request through the egress guard). For pages
// that build their content with scripts; plain pages are cheaper with the `web` set's http_fetch.

export interface BrowserOpenResult {
  /** Where the page ended up, after redirects and script navigations. */
  url: string
  /** The main document's HTTP status; absent if the page never got a response of its own. */
  status?: number
  title?: string
  /** The rendered page reduced to readable text, at most 100,000 characters. */
  text: string
  truncated: boolean
  /** Absolute http(s) links, distinct, at most 200. */
  links: Array<{ text: string; url: string }>
}

export interface BrowserExtractResult {
  url: string
  status?: number
  /** Per selector name, at most 100 values of at most 2,000 characters each, in document order. */
  matches: Record<string, string[]>
}

export interface BrowserScreenshotResult {
  url: string
  title?: string
  /** The PNG's size. */
  bytes: number
  sha256: string
  /** A full-page shot was cut at 10,000 pixels high. */
  truncated: boolean
  /** The PNG, only when it is at most 200 KB. */
  base64?: string
}

/** A screenshot stored among the bot's files (a run with a file space): what the model and the log see. */
export interface BrowserScreenshotFile {
  /** The name among the bot's files (`screenshot-<UTC time>-<sha256 prefix>.png`), for GET /bots/{id}/files/{name}. */
  file: string
  /** `image/png`, or `image/jpeg` when the PNG was over the 1 MiB a file may hold. */
  contentType: string
  /** The stored image's size and SHA-256. */
  bytes: number
  sha256: string
  url: string
  title?: string
  /** In pixels. */
  width: number
  height: number
  truncated: boolean
}

/** A screenshot as taken, before it is stored or returned. */
interface Shot {
  png: Buffer
  url: string
  title?: string
  truncated: boolean
  fullPage: boolean
  /** The area shot when cut (full page over 10,000 pixels). */
  clip?: { x: number; y: number; width: number; height: number }
}

const maxTextChars = 100_000
/** The serialised DOM read at most: a page beyond this is cut (truncated) rather than parsed whole. */
const maxHtmlChars = 5_000_000
const maxLinks = 200
const maxSelectors = 20
const maxMatches = 100
const maxValueChars = 2_000
const urlAttributes = new Set(['href', 'src'])
const maxInlinePngBytes = 200 * 1024
const maxShotHeight = 10_000

const url = z.string().min(1).max(4096).describe('An http or https URL.')

export function createBrowserToolSet(pool: BrowserPool): ToolSet {
  return {
    name: 'browser',
    description:
      'Open web pages in a real browser (headless Chromium) after their JavaScript has run: read them, pick parts with CSS selectors, or take a screenshot.',
    functions: [
      {
        name: 'browser_open',
        description:
          'Opens a URL in a browser, waits until the page has loaded and its scripts have run (and, if given, until an element matching `waitFor` exists), and returns the final URL, status, title, the page as readable text and its links. Use it for pages that build their content with JavaScript; for plain pages and JSON APIs http_fetch is faster. Long pages are cut (truncated: true).',
        input: z.strictObject({
          url,
          waitFor: z
            .string()
            .min(1)
            .max(500)
            .optional()
            .describe(
              'A CSS selector to wait for (up to 10 s) after the page loaded, for content that appears later, e.g. ".results li".',
            ),
        }),
        execute: (input, context) =>
          pool.withPage(context, (page) => browserOpen(page, input.url, input.waitFor)),
      },
      {
        name: 'browser_extract',
        description:
          'Opens a URL in a browser, lets its scripts run, and returns, for each named CSS selector, the visible text of the matching elements (or an attribute such as href). Use it to pick listings, prices or links from a page that builds its content with JavaScript; for static pages extract_html is faster.',
        input: z.strictObject({
          url,
          selectors: z
            .record(z.string().min(1).max(100), z.string().min(1).max(500))
            .describe(
              'Name → CSS selector, at most 20, e.g. { "titles": ".offer h2", "prices": ".offer .price" }.',
            ),
          attribute: z
            .string()
            .min(1)
            .max(100)
            .optional()
            .describe('Read this attribute instead of the text, e.g. "href" (returned as an absolute URL).'),
        }),
        execute: (input, context) =>
          pool.withPage(context, (page) => browserExtract(page, input.url, input.selectors, input.attribute)),
      },
      {
        name: 'browser_screenshot',
        description:
          "Opens a URL in a browser (1280×800 window) and takes a PNG screenshot of it, or of the whole page with fullPage (cut at 10,000 pixels high), and stores it among the bot's files, where people see it from the run's log. Returns the file name, the final URL, the title, width and height, and the image's size in bytes and SHA-256; not the image itself. It does not tell you what is on the page: read it with browser_open.",
        input: z.strictObject({
          url,
          fullPage: z
            .boolean()
            .optional()
            .describe('The whole scrolling page instead of the window. Default false.'),
        }),
        execute: (input, context) =>
          pool.withPage(context, async (page) => {
            const shot = await takeScreenshot(page, input.url, input.fullPage ?? false)
            // Without a file space (no bot behind the call) the model gets the image inline, if small.
            if (!context.files) return inlineScreenshot(shot)
            return storeScreenshot(page, shot, context.files)
          }),
      },
    ],
  }
}

export async function browserOpen(page: Page, url: string, waitFor?: string): Promise<BrowserOpenResult> {
  const response = await openPage(page, url, waitFor === undefined ? {} : { waitFor })
  const html = await page.content()
  const reduced = reducePage(load(html.slice(0, maxHtmlChars)), new URL(page.url()), maxLinks)
  const text = cut(reduced.text, maxTextChars)
  return {
    url: page.url(),
    ...(response ? { status: response.status() } : {}),
    ...(reduced.title === undefined ? {} : { title: reduced.title }),
    text: text.text,
    truncated: text.truncated || html.length > maxHtmlChars,
    links: reduced.links,
  }
}

export async function browserExtract(
  page: Page,
  url: string,
  selectors: Record<string, string>,
  attribute?: string,
): Promise<BrowserExtractResult> {
  const entries = Object.entries(selectors ?? {})
  if (entries.length === 0 || entries.length > maxSelectors) {
    throw new ToolError(
      'request_invalid',
      `Give between 1 and ${maxSelectors} selectors (name → CSS selector); ${entries.length} were given.`,
    )
  }
  await checkSelectors(page, selectors)
  const response = await openPage(page, url)
  const wanted = attribute?.trim().toLowerCase() || undefined
  const found = await page.evaluate(
    ({ entries, wanted, maxMatches, maxValueChars }) => {
      const matches: Record<string, string[]> = {}
      for (const [name, selector] of entries) {
        const values: string[] = []
        for (const element of Array.from(document.querySelectorAll(selector))) {
          if (values.length >= maxMatches) break
          if (wanted === undefined) {
            // The text as rendered (CSS applied), whitespace tidied line by line.
            const text = element instanceof HTMLElement ? element.innerText : (element.textContent ?? '')
            const lines = text.split('\n').map((line) => line.replace(/\s+/g, ' ').trim())
            values.push(
              lines
                .filter((line) => line !== '')
                .join('\n')
                .slice(0, maxValueChars),
            )
            continue
          }
          const value = element.getAttribute(wanted)
          if (value !== null) values.push(value)
        }
        matches[name] = values
      }
      return { matches, base: document.baseURI }
    },
    { entries, wanted, maxMatches, maxValueChars },
  )
  const base = new URL(found.base)
  const matches: Record<string, string[]> = {}
  for (const [name, values] of Object.entries(found.matches)) {
    matches[name] = values.map((value) => {
      const absolute =
        wanted !== undefined && urlAttributes.has(wanted) ? absoluteUrl(value, base)?.href : undefined
      return (absolute ?? value).slice(0, maxValueChars)
    })
  }
  return { url: page.url(), ...(response ? { status: response.status() } : {}), matches }
}

export async function browserScreenshot(
  page: Page,
  url: string,
  fullPage: boolean,
): Promise<BrowserScreenshotResult> {
  return inlineScreenshot(await takeScreenshot(page, url, fullPage))
}

async function takeScreenshot(page: Page, url: string, fullPage: boolean): Promise<Shot> {
  await openPage(page, url)
  let truncated = false
  let png: Buffer
  let clip: Shot['clip']
  if (fullPage) {
    const height = await page.evaluate(() =>
      Math.max(document.documentElement.scrollHeight, document.body?.scrollHeight ?? 0),
    )
    truncated = height > maxShotHeight
    const width = page.viewportSize()?.width ?? 1280
    clip = truncated ? { x: 0, y: 0, width, height: maxShotHeight } : undefined
    png = await page.screenshot(clip ? { fullPage: true, clip } : { fullPage: true })
  } else {
    png = await page.screenshot()
  }
  const title = (await page.title()).trim()
  return {
    png,
    url: page.url(),
    ...(title === '' ? {} : { title }),
    truncated,
    fullPage,
    ...(clip ? { clip } : {}),
  }
}

function inlineScreenshot(shot: Shot): BrowserScreenshotResult {
  return {
    url: shot.url,
    ...(shot.title === undefined ? {} : { title: shot.title }),
    bytes: shot.png.byteLength,
    sha256: sha256Of(shot.png),
    truncated: shot.truncated,
    ...(shot.png.byteLength <= maxInlinePngBytes ? { base64: shot.png.toString('base64') } : {}),
  }
}

/**
 * Stores the shot as `screenshot-<UTC time>-<sha256 prefix>.png`. A PNG over what a file may hold (a
 * long page full of photos) is taken again as a JPEG, which is several times smaller; the quota errors
 * (`file_too_large`, `files_quota`) reach the model as they are.
 */
async function storeScreenshot(page: Page, shot: Shot, files: FileSpace): Promise<BrowserScreenshotFile> {
  // The PNG header's IHDR chunk holds width and height (big-endian, at bytes 16 and 20).
  const width = shot.png.readUInt32BE(16)
  const height = shot.png.readUInt32BE(20)
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  let image = shot.png
  let contentType = 'image/png'
  let stored: { name: string } | undefined
  const nameFor = (bytes: Buffer, extension: string) =>
    `screenshot-${stamp}-${sha256Of(bytes).slice(0, 8)}.${extension}`
  try {
    stored = await files.writeBinary(nameFor(image, 'png'), image, contentType)
  } catch (error) {
    if (!(error instanceof ToolError) || error.code !== 'file_too_large') throw error
    image = await page.screenshot({
      type: 'jpeg',
      quality: 70,
      ...(shot.fullPage ? { fullPage: true } : {}),
      ...(shot.clip ? { clip: shot.clip } : {}),
    })
    contentType = 'image/jpeg'
    stored = await files.writeBinary(nameFor(image, 'jpg'), image, contentType)
  }
  return {
    file: stored.name,
    contentType,
    bytes: image.byteLength,
    sha256: sha256Of(image),
    url: shot.url,
    ...(shot.title === undefined ? {} : { title: shot.title }),
    width,
    height,
    truncated: shot.truncated,
  }
}

const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** `text` cut at `max` characters, never between the halves of a surrogate pair. */
function cut(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false }
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max
  return { text: text.slice(0, end), truncated: true }
}
