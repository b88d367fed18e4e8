import fs from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The sanitiser needs a DOM; it is tested where it runs: lib/markdown.ts bundled with its real
// dependencies (marked, DOMPurify) and called in Debian's Chromium. Without Chromium the tests are
// skipped, loudly; under CI=true that is a failure (as in apps/web/e2e).

const chromiumPath = process.env.OPENORCH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = fs.existsSync(chromiumPath)
const isCi = process.env.CI === 'true' || process.env.CI === '1'

/** The review's attack: model output that borrows the dashboard's utility classes for a fake panel. */
const phishingPanel =
  '<div class="fixed inset-0 z-50 flex items-center justify-center bg-white dark:bg-slate-950" id="root" style="position:fixed">' +
  '<div class="rounded-lg p-8 shadow-xl"><h2 class="text-lg font-semibold">Session expired</h2>' +
  '<p>Please <a href="https://evil.example/login" class="underline" data-testid="sign-in" aria-label="Sign in">sign in</a> again.</p></div></div>'

const rel = 'target="_blank" rel="noopener noreferrer nofollow"'

if (!hasChromium) {
  const message = `Chromium not found at ${chromiumPath}: the Markdown sanitiser tests are SKIPPED. Install it with \`apt-get install -y chromium\`.`
  if (isCi)
    describe('renderMarkdown', () => {
      it('needs Chromium under CI', () => {
        throw new Error(message)
      })
    })
  else console.warn(`\n*** ${message}\n`)
}

describe.skipIf(!hasChromium)('renderMarkdown (in Chromium)', () => {
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    const bundled = await build({
      entryPoints: [path.join(import.meta.dirname, 'markdown.ts')],
      bundle: true,
      format: 'iife',
      globalName: 'markdown',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    })
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] })
    page = await browser.newPage()
    await page.addScriptTag({ content: bundled.outputFiles[0]!.text })
  })

  afterAll(async () => {
    await browser?.close()
  })

  const render = (text: string) =>
    page.evaluate(
      (t) =>
        (window as unknown as { markdown: { renderMarkdown(t: string): string } }).markdown.renderMarkdown(t),
      text,
    )

  it('drops class, id, style, data and aria attributes: the fake "session expired" panel is a heading, text and a link', async () => {
    expect(await render(phishingPanel)).toBe(
      `<h2>Session expired</h2><p>Please <a href="https://evil.example/login" ${rel}>sign in</a> again.</p>`,
    )
    expect(
      await render(
        '<p id="app" class="fixed inset-0" style="position:fixed" data-x="1" aria-hidden="true">hi</p>',
      ),
    ).toBe('<p>hi</p>')
    expect(await render('<span class="absolute top-0 left-0 h-screen w-screen">cover</span>')).toBe(
      '<p>cover</p>\n',
    )
  })

  it('keeps links only to http, https and mailto, each opening a new tab without opener or referrer', async () => {
    expect(
      await render(
        '[a](https://example.com/x?y=1) [b](http://example.com) [c](mailto:anna@example.com) [d](javascript:alert(1)) [e](/settings) [f](#top) [g](data:text/html,x) [h](//evil.example)',
      ),
    ).toBe(
      `<p><a href="https://example.com/x?y=1" ${rel}>a</a> <a href="http://example.com" ${rel}>b</a> ` +
        `<a href="mailto:anna@example.com" ${rel}>c</a> <a ${rel}>d</a> <a ${rel}>e</a> <a ${rel}>f</a> ` +
        `<a ${rel}>g</a> <a ${rel}>h</a></p>\n`,
    )
    expect(await render('<a href="https://example.com" target="_self" rel="opener">x</a>')).toBe(
      `<p><a href="https://example.com" ${rel}>x</a></p>\n`,
    )
  })

  it('removes scripts, event handlers, images, forms, frames, styles and SVG', async () => {
    expect(
      await render(
        '<script>alert(1)</script><img src=x onerror=alert(1)><b onclick="alert(1)">bold</b>' +
          '<form action="https://evil.example"><input name="password"><button>Go</button></form>' +
          '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>' +
          '<svg><a href="https://evil.example"><text>svg</text></a></svg>',
      ),
    ).toBe('<b>bold</b>Go')
  })

  it('keeps the Markdown of a report: headings, emphasis, numbered lists from their start, aligned tables, code, quotes', async () => {
    expect(
      await render(
        '## Summary\n\n**Three** *new* ~~old~~ `code`\n\n3. three\n4. four\n\n- one\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n```js\nconst x = 1\n```\n\n> quoted',
      ),
    ).toBe(
      '<h2>Summary</h2>\n<p><strong>Three</strong> <em>new</em> <del>old</del> <code>code</code></p>\n' +
        '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n<ul>\n<li>one</li>\n</ul>\n' +
        '<table>\n<thead>\n<tr>\n<th align="left">a</th>\n<th align="right">b</th>\n</tr>\n</thead>\n' +
        '<tbody><tr>\n<td align="left">1</td>\n<td align="right">2</td>\n</tr>\n</tbody></table>\n' +
        '<pre><code>const x = 1\n</code></pre>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n',
    )
  })
})
