import { accessSync, constants } from 'node:fs'
import {
  type Browser,
  type BrowserContext,
  chromium,
  errors,
  type Page,
  type Request,
  type Response,
} from 'playwright-core'
import type { EgressRefusedError } from '../../platform/egress/egress.ts'
import type { Logger } from '../../platform/logger.ts'
import type { ToolContext } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'
import { parseHttpUrl } from '../web/http-fetch.ts'
import { cachedResolver, guardBrowserContext, type ResolveHost } from './browser-egress.ts'
import { type EgressProxy, refusedMarker, startEgressProxy } from './browser-proxy.ts'

// One Chromium per server process, started when a page is first needed and kept warm. Each call
// gets a fresh browser context (its own cookies, storage and cache, gone when the call ends) whose
// every request passes the egress guard twice: in Playwright's routing (browser-egress.ts) and at
// the context's own proxy, where connections leave the browser (browser-proxy.ts). Downloads are
// refused, dialogs dismissed and popups closed. At most `concurrency` pages are open at once;
// further calls wait in FIFO order, and a waiting call whose run aborts leaves the queue at once. A
// run's abort closes its context at once and rejects with the signal's reason.

export interface BrowserPoolOptions {
  /** Chromium or Chrome (OPENORCH_CHROMIUM_PATH); default the first of `chromiumCandidates` there is. */
  executablePath?: string
  /** Pages open at once (OPENORCH_BROWSER_CONCURRENCY); default 2. */
  concurrency?: number
  log: Logger
  /** How hosts are resolved for the egress checks (dns.lookup with all); tests give names of their own. */
  resolve?: ResolveHost
}

/** What a page needs of a tool call: the run (for logs), its signal, and the egress rules. */
export type BrowserRunContext = Pick<ToolContext, 'runId' | 'signal' | 'egress'>

export interface BrowserPool {
  /**
   * Runs `work` with a page of its own in a fresh browser context, which is closed when `work`
   * settles. Rejects with the signal's reason as soon as the run aborts (the page is closed at once),
   * else with a ToolError (`browser_missing`, `browser_failed`, `browser_closed`, …) or what `work`
   * threw.
   */
  withPage<T>(context: BrowserRunContext, work: (page: Page) => Promise<T>): Promise<T>
  /** Closes every open page and Chromium; calls waiting or running fail with `browser_closed`. */
  close(): Promise<void>
}

export const chromiumCandidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
export const defaultBrowserConcurrency = 2
export const navigationTimeoutMs = 20_000
/** Removes WebRTC's entry points from a frame's global object, for good (not configurable). */
const withoutWebRtc = `for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCDataChannel',
  'RTCIceCandidate', 'RTCSessionDescription', 'RTCRtpSender', 'RTCRtpReceiver', 'RTCRtpTransceiver',
  'RTCDtlsTransport', 'RTCIceTransport', 'RTCSctpTransport', 'RTCEncodedAudioFrame', 'RTCEncodedVideoFrame']) {
  try { Object.defineProperty(globalThis, name, { value: undefined, writable: false, configurable: false }) } catch {}
}`

/** Everything after the navigation: a selector waited for, a screenshot, reading the page. */
export const actionTimeoutMs = 10_000
const launchTimeoutMs = 30_000
const viewport = { width: 1280, height: 800 }

const installHint =
  'Install Chromium on the server (apt-get install chromium), or set OPENORCH_CHROMIUM_PATH to a Chromium or Chrome executable.'

export function createBrowserPool(options: BrowserPoolOptions): BrowserPool {
  const concurrency = options.concurrency ?? defaultBrowserConcurrency
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new RangeError(`Browser pool: concurrency must be a positive integer, got ${concurrency}.`)
  const log = options.log.child({ component: 'browser' })
  const slots = createSlots(concurrency)
  const contexts = new Set<BrowserContext>()
  let browser: Promise<Browser> | undefined
  let closing: Promise<void> | undefined

  const poolClosed = () =>
    new ToolError('browser_closed', 'The browser was shut down (the server is stopping): try again later.')

  function launched(): Promise<Browser> {
    if (browser) return browser
    const launching = launchChromium(options.executablePath, log)
    browser = launching
    launching.then(
      (started) =>
        started.on('disconnected', () => {
          if (browser !== launching) return
          browser = undefined
          log.warn('chromium exited; the next page starts it again')
        }),
      () => {
        // Not started (missing, broken): the next call looks again, so installing it needs no restart.
        if (browser === launching) browser = undefined
      },
    )
    return launching
  }

  async function withPage<T>(run: BrowserRunContext, work: (page: Page) => Promise<T>): Promise<T> {
    const { signal } = run
    signal.throwIfAborted()
    if (closing) throw poolClosed()
    await slots.acquire(signal)
    let context: BrowserContext | undefined
    let proxy: EgressProxy | undefined
    let started: Browser | undefined
    try {
      if (closing) throw poolClosed()
      started = await untilAborted(launched(), signal)
      const resolve = cachedResolver(options.resolve)
      const state: PageState = { page: undefined, refusal: undefined, proxy: undefined }
      proxy = await startEgressProxy({
        egress: run.egress,
        resolve,
        onRefused: (refusal) =>
          log.debug(
            { runId: run.runId, host: refusal.host, range: refusal.range, layer: 'proxy' },
            'browser request refused',
          ),
      })
      state.proxy = proxy
      context = await started.newContext({
        acceptDownloads: false,
        // A service worker's requests would not pass the routing that applies the egress guard.
        serviceWorkers: 'block',
        viewport,
        // Playwright adds <-loopback>, so loopback addresses go through the proxy too.
        proxy: { server: proxy.server },
      })
      contexts.add(context)
      // WebRTC sends UDP past the routing and the proxy (STUN, TURN, ICE checks to any address a page
      // names; attack finding 3): pages get no peer connections. Init scripts run in every frame,
      // before its own scripts.
      await context.addInitScript({ content: withoutWebRtc })
      if (closing) throw poolClosed()
      signal.throwIfAborted()
      const page = await preparePage(context, state, run, resolve, log)
      signal.throwIfAborted()
      const open = context
      return await untilAborted(work(page), signal, () => {
        open.close().catch(() => {})
      })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      if (error instanceof ToolError) throw error
      if (closing) throw poolClosed()
      if (started && !started.isConnected()) {
        throw new ToolError(
          'browser_failed',
          'Chromium stopped while the page was open (it may have crashed or run out of memory). Try again; a very heavy page may not open at all.',
          { cause: error },
        )
      }
      if (error instanceof errors.TimeoutError) {
        throw new ToolError(
          'browser_timeout',
          `The page did not finish what was asked within ${actionTimeoutMs / 1000} s: try again, or ask for less.`,
          { cause: error },
        )
      }
      throw error
    } finally {
      if (context) {
        contexts.delete(context)
        await context.close().catch(() => {})
      }
      await proxy?.close()
      slots.release()
    }
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      slots.rejectWaiting(poolClosed)
      await Promise.all([...contexts].map((context) => context.close().catch(() => {})))
      const running = browser
      browser = undefined
      const started = await running?.catch(() => undefined)
      await started?.close().catch(() => {})
    })()
    return closing
  }

  return { withPage, close }
}

/** The executable to start: the one named (OPENORCH_CHROMIUM_PATH), else the first candidate there is. */
export function findChromium(executablePath: string | undefined): string {
  if (executablePath !== undefined) {
    if (isExecutable(executablePath)) return executablePath
    throw new ToolError(
      'browser_missing',
      `There is no browser to run at ${executablePath} (OPENORCH_CHROMIUM_PATH). ${installHint}`,
    )
  }
  const found = chromiumCandidates.find(isExecutable)
  if (found) return found
  throw new ToolError(
    'browser_missing',
    `No Chromium was found on the server (looked for ${chromiumCandidates.join(', ')}). ${installHint}`,
  )
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

async function launchChromium(executablePath: string | undefined, log: Logger): Promise<Browser> {
  const path = findChromium(executablePath)
  // Chromium's sandbox needs an unprivileged user (it runs in user namespaces). As root Chromium
  // refuses to start with it ("Running as root without --no-sandbox is not supported"), so it is
  // turned off only then; run the server as an ordinary user to keep pages sandboxed.
  const sandbox = process.getuid?.() !== 0
  const started = performance.now()
  try {
    const browser = await chromium.launch({
      executablePath: path,
      headless: true,
      chromiumSandbox: sandbox,
      args: [
        // WebRTC bypasses request routing: no direct UDP, only what goes through the context's proxy.
        '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
        // Containers often give /dev/shm 64 MB, too little for Chromium's shared memory.
        '--disable-dev-shm-usage',
      ],
      // The server's own shutdown closes the pool; Playwright still kills Chromium if the process exits.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      timeout: launchTimeoutMs,
    })
    log.info(
      {
        executablePath: path,
        version: browser.version(),
        sandbox,
        durationMs: Math.round(performance.now() - started),
      },
      'chromium started',
    )
    return browser
  } catch (error) {
    log.error({ err: error, executablePath: path }, 'chromium did not start')
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]
    throw new ToolError(
      'browser_failed',
      `The browser (${path}) did not start: ${reason}. An operator should check the server's log; ${installHint.charAt(0).toLowerCase()}${installHint.slice(1)}`,
      { cause: error },
    )
  }
}

interface PageState {
  page: Page | undefined
  /** Why the page's own navigation was refused by the routing layer. */
  refusal: EgressRefusedError | undefined
  /** The context's proxy: what it refused (a redirect hop of the navigation among them). */
  proxy: EgressProxy | undefined
}

const pageStates = new WeakMap<Page, PageState>()

async function preparePage(
  context: BrowserContext,
  state: PageState,
  run: BrowserRunContext,
  resolve: ResolveHost,
  log: Logger,
): Promise<Page> {
  await guardBrowserContext(context, {
    egress: run.egress,
    resolve,
    onRefused: (refusal, request) => {
      if (state.page && isNavigationOf(request, state.page)) state.refusal = refusal
      log.debug(
        { runId: run.runId, host: refusal.host, range: refusal.range, layer: 'routing' },
        'browser request refused',
      )
    },
  })
  const page = await context.newPage()
  state.page = page
  pageStates.set(page, state)
  // One page a call: a popup is closed as it opens (its requests would have passed the guard too).
  context.on('page', (other) => {
    if (other !== page) other.close().catch(() => {})
  })
  page.on('dialog', (dialog) => {
    dialog.dismiss().catch(() => {})
  })
  page.setDefaultNavigationTimeout(navigationTimeoutMs)
  page.setDefaultTimeout(actionTimeoutMs)
  return page
}

function isNavigationOf(request: Request, page: Page): boolean {
  try {
    return request.isNavigationRequest() && request.frame() === page.mainFrame()
  } catch {
    // A request without a frame (a service worker's) is not the page's navigation.
    return false
  }
}

/**
 * Opens `url` in `page` and waits for its `load` event (its scripts have run), then, if given, for
 * `waitFor` to match an element. Throws `url_invalid`, `selector_invalid`, `egress_refused`,
 * `browser_timeout`, `browser_download_refused` or `browser_navigation_failed` ToolErrors.
 */
export async function openPage(
  page: Page,
  url: string,
  options: { waitFor?: string } = {},
): Promise<Response | null> {
  const target = parseHttpUrl(url)
  if (options.waitFor !== undefined) await checkSelectors(page, { waitFor: options.waitFor })
  let response: Response | null
  const refusedBefore = pageStates.get(page)?.proxy?.lastRefusal()
  try {
    response = await page.goto(target.href, { waitUntil: 'load', timeout: navigationTimeoutMs })
  } catch (error) {
    throw navigationError(page, target, error, refusedBefore)
  }
  const refused = response && refusedByProxy(page, response)
  if (refused) throw new ToolError('egress_refused', refused.message)
  if (options.waitFor !== undefined) {
    try {
      await page.waitForFunction((selector) => document.querySelector(selector) !== null, options.waitFor, {
        timeout: actionTimeoutMs,
        polling: 100,
      })
    } catch (error) {
      if (!(error instanceof errors.TimeoutError)) throw error
      throw new ToolError(
        'browser_timeout',
        `${page.url()} loaded, but nothing matched "${options.waitFor}" within ${actionTimeoutMs / 1000} s. Check the selector, or open the page without waitFor and read what is there.`,
        { cause: error },
      )
    }
  }
  return response
}

/** The proxy's refusal when the page's response is the proxy's own 403 for a refused hop (a redirect). */
function refusedByProxy(page: Page, response: Response): EgressRefusedError | undefined {
  if (response.headers()[refusedMarker] !== 'refused') return undefined
  const url = new URL(response.url())
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return pageStates.get(page)?.proxy?.refusalFor(url.hostname.replace(/^\[|\]$/g, ''), port)
}

function navigationError(
  page: Page,
  target: URL,
  error: unknown,
  refusedBefore: EgressRefusedError | undefined,
): unknown {
  const state = pageStates.get(page)
  const message = error instanceof Error ? error.message : String(error)
  // A tunnel the proxy refused (an https redirect hop): a refusal since the navigation began is its
  // own, as nothing of the page loads before its document does.
  const tunnelRefusal = message.includes('net::ERR_TUNNEL_CONNECTION_FAILED')
    ? state?.proxy?.lastRefusal()
    : undefined
  const refusal = state?.refusal ?? (tunnelRefusal !== refusedBefore ? tunnelRefusal : undefined)
  if (refusal) return new ToolError('egress_refused', refusal.message, { cause: error })
  if (error instanceof errors.TimeoutError) {
    return new ToolError(
      'browser_timeout',
      `${target.href} did not finish loading within ${navigationTimeoutMs / 1000} s. The site may be slow or down: try again later, or fetch it with http_fetch.`,
      { cause: error },
    )
  }
  if (/Download is starting/i.test(message)) {
    return new ToolError(
      'browser_download_refused',
      `${target.href} is a file download, which the browser does not save. Fetch it with http_fetch if it is text or JSON.`,
      { cause: error },
    )
  }
  const netError = /net::ERR_[A-Z_]+/.exec(message)?.[0]
  if (netError) {
    return new ToolError(
      'browser_navigation_failed',
      `${target.href} could not be opened (${netError}). Check the address, or try again later.`,
      { cause: error },
    )
  }
  return error
}

/** Throws `selector_invalid` for the first selector the browser's own CSS parser rejects. */
export async function checkSelectors(page: Page, selectors: Record<string, string>): Promise<void> {
  const problems = await page.evaluate((entries) => {
    const probe = document.createDocumentFragment()
    for (const [name, selector] of entries) {
      try {
        probe.querySelector(selector)
      } catch (error) {
        return { name, selector, message: error instanceof Error ? error.message : String(error) }
      }
    }
    return undefined
  }, Object.entries(selectors))
  if (problems) {
    throw new ToolError(
      'selector_invalid',
      `The selector "${problems.name}" (${JSON.stringify(problems.selector)}) is not a valid CSS selector: ${problems.message} Fix it, e.g. "article h2 a" or "table.prices td:nth-child(2)".`,
    )
  }
}

/** `promise`, or the signal's reason as soon as it aborts (then `onAbort` runs). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort?.()
      reject(signal.reason)
    }
    if (signal.aborted) {
      promise.catch(() => {})
      abort()
      return
    }
    signal.addEventListener('abort', abort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort)
        resolve(value)
      },
      (error) => {
        signal.removeEventListener('abort', abort)
        reject(error)
      },
    )
  })
}

interface Waiter {
  resolve: () => void
  reject: (error: unknown) => void
  signal: AbortSignal
  onAbort: () => void
}

/** A counting semaphore with a FIFO queue; a waiter whose signal aborts leaves it at once. */
function createSlots(size: number) {
  let busy = 0
  const waiters: Waiter[] = []
  return {
    acquire(signal: AbortSignal): Promise<void> {
      signal.throwIfAborted()
      if (busy < size) {
        busy++
        return Promise.resolve()
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          resolve,
          reject,
          signal,
          onAbort: () => {
            waiters.splice(waiters.indexOf(waiter), 1)
            reject(signal.reason)
          },
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
        waiters.push(waiter)
      })
    },
    release(): void {
      const next = waiters.shift()
      if (!next) {
        busy--
        return
      }
      // The slot passes straight to the next waiter: `busy` stays as it is.
      next.signal.removeEventListener('abort', next.onAbort)
      next.resolve()
    },
    rejectWaiting(error: () => Error): void {
      for (const waiter of waiters.splice(0)) {
        waiter.signal.removeEventListener('abort', waiter.onAbort)
        waiter.reject(error())
      }
    },
  }
}
