import { createHash } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import nodemailer from 'nodemailer'
import { z } from 'zod'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from '../channel.types.ts'
import { type Block, type Inline, isSafeLinkUrl, parseMarkdown } from './markup.ts'

// The e-mail channel: one message per notification through the person's SMTP server (nodemailer),
// an HTML part rendered from the Markdown (every text escaped, no images, only http(s)/mailto links)
// and a text part. The Message-ID comes from the event id, so a resend of the same event (the kernel
// retries a delivery it did not see succeed) carries the same id and mail clients show it once.
// Connections are reused: a small pool per channel configuration, closed after a minute idle.
// The SMTP host goes through the egress rules like every URL: its addresses are checked and the
// connection goes to exactly the checked address (a local relay needs OPENORCH_EGRESS_ALLOW).

const hostname =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i
const address = z.email({ error: 'must be an e-mail address' }).max(320)
/** `a@b.example` or `Name <a@b.example>`. */
const mailbox = z
  .string()
  .trim()
  .max(400)
  .refine(
    (value) => {
      const named = /^([^<>"\r\n]{0,200}|"[^"\r\n]{0,200}")\s*<([^<>\s]+)>$/.exec(value)
      return address.safeParse(named ? named[2] : value).success
    },
    { error: 'must be an e-mail address, optionally with a name: "Bots <bots@example.com>"' },
  )

export const emailConfigSchema = z
  .strictObject({
    host: z
      .string()
      .trim()
      .refine((value) => hostname.test(value) || isIP(value.replace(/^\[|\]$/g, '')) !== 0, {
        error: 'must be a host name or an IP address',
      })
      .describe('The SMTP server, e.g. smtp.example.com.'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .describe('465 for TLS, 587 for STARTTLS, 25 for a local relay.'),
    security: z
      .enum(['tls', 'starttls', 'none'])
      .describe('tls: TLS from the start (465); starttls: upgraded, required (587); none: unencrypted.'),
    user: z.string().max(320).optional().describe('The SMTP login, when the server wants one.'),
    pass: z.string().max(1_000).optional().describe('The SMTP password; kept in the vault.'),
    from: mailbox.describe('The sender, e.g. "openOrchestrator <bots@example.com>".'),
    to: z.array(address).min(1).max(20).describe('Who receives the notifications (1–20 addresses).'),
  })
  .refine((config) => config.pass === undefined || config.user !== undefined, {
    error: 'a password needs a user',
    path: ['user'],
  })

export type EmailConfig = z.infer<typeof emailConfigSchema>

export interface EmailAdapterOptions {
  /** TLS settings on top of the system's trust (a test's own CA). Certificates are always verified. */
  tls?: Pick<ConnectionOptions, 'ca'>
  /** To connect and to receive the greeting, each (default 10 s). */
  connectionTimeoutMs?: number
  /** The longest silence of the server within a send (default 30 s). */
  socketTimeoutMs?: number
  /** A configuration's pool is closed after this long without a send (default 60 s). */
  idleMs?: number
}

/** The adapter; `options` are for tests (a CA, short timeouts), production uses `emailAdapter`. */
export function createEmailAdapter(options: EmailAdapterOptions = {}): ChannelAdapter<EmailConfig> {
  const settings = {
    connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
    socketTimeoutMs: options.socketTimeoutMs ?? 30_000,
    idleMs: options.idleMs ?? 60_000,
    tls: options.tls ?? {},
  }
  return {
    type: 'email',
    configSchema: emailConfigSchema,
    secretFields: ['pass'],
    async check(config, egress) {
      const refused = await egressRefusalOf(config, egress)
      if (refused) throw new AppError('egress_refused', refused, 400)
    },
    async send(message, { config, signal, egress }) {
      signal.throwIfAborted()
      const label = `The SMTP server ${config.host}:${config.port}`
      let transport: PooledTransport
      try {
        transport = await transportFor(config, egress, settings)
      } catch (error) {
        if (signal.aborted) throw signal.reason
        throw error instanceof ChannelError ? error : smtpFailure(error, label)
      }
      let info: { accepted: unknown[]; rejected: unknown[] }
      try {
        info = await transport.mailer.sendMail({ ...composeEmail(message, config), signal })
      } catch (error) {
        if (signal.aborted) throw signal.reason
        throw smtpFailure(error, label)
      } finally {
        transport.touch()
      }
      if (info.rejected.length > 0)
        throw new ChannelError(
          'smtp_recipient',
          `${label} refused ${info.rejected.map(String).join(', ')} (delivered to ${info.accepted.map(String).join(', ') || 'nobody'}). Correct the channel's recipients, then send a test.`,
          { retryable: false, channelBroken: true },
        )
    },
  }
}

export const emailAdapter = createEmailAdapter()

// ---------------------------------------------------------------------------------------------------
// The message

/** What nodemailer sends for `message`: subject, both parts, the stable Message-ID and our headers. */
export function composeEmail(message: ChannelMessage, config: Pick<EmailConfig, 'from' | 'to'>) {
  return {
    from: config.from,
    to: config.to,
    subject: oneLine(message.title),
    messageId: emailMessageId(message.eventId, config.from),
    headers: {
      'X-OpenOrch-Event-Id': oneLine(message.eventId),
      'X-OpenOrch-Event': oneLine(message.event),
      // RFC 3834: no vacation replies to a machine's message.
      'Auto-Submitted': 'auto-generated',
    },
    text: renderEmailText(message),
    html: renderEmailHtml(message),
  }
}

/**
 * `<openorch.<event id>@<the sender's domain>>`: the same for every resend of one event. An event id
 * with characters a Message-ID cannot carry is hashed instead.
 */
export function emailMessageId(eventId: string, from: string): string {
  const domain = /@([^@>\s]+)>?\s*$/.exec(from)?.[1]?.toLowerCase() ?? 'openorch.invalid'
  const local = /^[A-Za-z0-9._-]{1,100}$/.test(eventId)
    ? eventId
    : createHash('sha256').update(eventId).digest('hex').slice(0, 40)
  return `<openorch.${local}@${domain}>`
}

// A header value on one line: no CR/LF from a bot's name can add a header.
const oneLine = (value: string) => value.replace(/[\r\n]+/g, ' ').trim()

export function renderEmailText(message: ChannelMessage): string {
  const closing: string[] = []
  if (message.facts.length > 0) closing.push(message.facts.join(' · '))
  if (message.link) closing.push(message.link)
  if (message.footer) closing.push(message.footer)
  return [message.title, message.text.trim(), closing.join('\n')].filter((part) => part !== '').join('\n\n')
}

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  )
}

const codeStyle = 'font-family:ui-monospace,Menlo,Consolas,monospace;font-size:90%;'

function renderInline(nodes: readonly Inline[]): string {
  return nodes.map(renderNode).join('')
}

function renderNode(node: Inline): string {
  switch (node.type) {
    case 'text':
      return escapeHtml(node.text)
    case 'code':
      return `<code style="${codeStyle}background:#f3f4f6;padding:0 3px;border-radius:3px">${escapeHtml(node.text)}</code>`
    case 'strong':
      return `<strong>${renderInline(node.children)}</strong>`
    case 'em':
      return `<em>${renderInline(node.children)}</em>`
    case 'strike':
      return `<s>${renderInline(node.children)}</s>`
    case 'link':
      return isSafeLinkUrl(node.url)
        ? `<a href="${escapeHtml(node.url)}" rel="noopener noreferrer">${renderInline(node.children)}</a>`
        : renderInline(node.children)
  }
}

function renderBlocks(blocks: readonly Block[]): string {
  const html: string[] = []
  for (let index = 0; index < blocks.length; index++) {
    const block = blocks[index]!
    switch (block.type) {
      case 'paragraph':
        html.push(`<p style="margin:0 0 12px">${block.lines.map(renderInline).join('<br>')}</p>`)
        break
      case 'heading': {
        const size = [20, 18, 16, 15, 14, 14][block.level - 1] ?? 14
        html.push(
          `<p style="margin:16px 0 8px;font-size:${size}px;font-weight:bold">${renderInline(block.content)}</p>`,
        )
        break
      }
      case 'quote':
        html.push(
          `<blockquote style="margin:0 0 12px;padding-left:10px;border-left:3px solid #d1d5db;color:#4b5563">${block.lines.map(renderInline).join('<br>')}</blockquote>`,
        )
        break
      case 'list_item': {
        // A run of items is one list; nesting shows as indentation, the marker as written.
        const items: string[] = []
        for (; index < blocks.length; index++) {
          const item = blocks[index]!
          if (item.type !== 'list_item') break
          const marker = /^\d/.test(item.marker) ? escapeHtml(item.marker) : '•'
          items.push(
            `<li style="margin:0 0 4px ${item.depth * 20}px">${marker}&nbsp;${renderInline(item.content)}</li>`,
          )
        }
        index--
        html.push(`<ul style="margin:0 0 12px;padding:0;list-style:none">${items.join('')}</ul>`)
        break
      }
      case 'code':
        html.push(
          `<pre style="${codeStyle}margin:0 0 12px;padding:8px;background:#f3f4f6;border-radius:4px;white-space:pre-wrap;word-break:break-word">${escapeHtml(block.text)}</pre>`,
        )
        break
      case 'rule':
        html.push('<hr style="border:none;border-top:1px solid #e5e7eb;margin:16px 0">')
        break
    }
  }
  return html.join('\n')
}

/** Markdown as e-mail HTML: every text escaped, only the tags written here, no images, no scripts. */
export function markdownToEmailHtml(markdown: string): string {
  return renderBlocks(parseMarkdown(markdown))
}

const severityColour: Record<ChannelMessage['severity'], string> = {
  info: '#2563eb',
  success: '#16a34a',
  warning: '#d97706',
  error: '#dc2626',
}

export function renderEmailHtml(message: ChannelMessage): string {
  const closing: string[] = []
  if (message.facts.length > 0) closing.push(`<div>${escapeHtml(message.facts.join(' · '))}</div>`)
  if (message.link && isSafeLinkUrl(message.link))
    closing.push(
      `<div style="margin-top:8px"><a href="${escapeHtml(message.link)}" rel="noopener noreferrer">Open in openOrchestrator</a></div>`,
    )
  if (message.footer) closing.push(`<div style="margin-top:8px">${escapeHtml(message.footer)}</div>`)
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(message.title)}</title></head>`,
    '<body style="margin:0;padding:16px;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:14px;line-height:1.5;color:#111827">',
    `<div style="max-width:640px;border-top:4px solid ${severityColour[message.severity]};padding-top:12px">`,
    `<p style="margin:0 0 12px;font-size:18px;font-weight:bold">${escapeHtml(message.title)}</p>`,
    markdownToEmailHtml(message.text),
    closing.length > 0
      ? `<div style="margin-top:16px;padding-top:8px;border-top:1px solid #e5e7eb;font-size:12px;color:#6b7280">${closing.join('')}</div>`
      : '',
    '</div></body></html>',
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------------
// Connections

interface PooledTransport {
  mailer: ReturnType<typeof nodemailer.createTransport>
  /** Restarts the idle timer: the pool closes a while after its last send. */
  touch(): void
}

const transports = new Map<string, { transport: Promise<PooledTransport>; close(): void }>()

/** Closes every pooled SMTP connection (at shutdown); a later send opens new ones. */
export function closeEmailTransports(): void {
  for (const entry of transports.values()) entry.close()
  transports.clear()
}

async function resolveAddresses(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '')
  if (isIP(bare)) return [bare]
  return (await lookup(bare, { all: true })).map((entry) => entry.address)
}

/** Why the egress rules refuse the SMTP host, or undefined. A host that does not resolve passes (checked on send). */
async function egressRefusalOf(config: EmailConfig, egress: EgressPolicy): Promise<string | undefined> {
  let addresses: string[]
  try {
    addresses = await resolveAddresses(config.host)
  } catch {
    return undefined
  }
  for (const resolved of addresses) {
    const refused = egress.refusal(config.host.replace(/^\[|\]$/g, ''), resolved, config.port)
    if (refused) return refused.message
  }
  return undefined
}

// One pool per configuration (and policy and options): the key is a hash, so no secret is kept as a key.
const policyIds = new WeakMap<object, number>()
let nextPolicyId = 1
const idOf = (value: object) => {
  let id = policyIds.get(value)
  if (id === undefined) {
    id = nextPolicyId++
    policyIds.set(value, id)
  }
  return id
}

async function transportFor(
  config: EmailConfig,
  egress: EgressPolicy,
  settings: Required<Omit<EmailAdapterOptions, 'tls'>> & { tls: EmailAdapterOptions['tls'] & object },
): Promise<PooledTransport> {
  const key = createHash('sha256')
    .update(JSON.stringify([config, idOf(egress), idOf(settings)]))
    .digest('hex')
  let entry = transports.get(key)
  if (!entry) {
    let timer: NodeJS.Timeout | undefined
    let mailer: PooledTransport['mailer'] | undefined
    const close = () => {
      clearTimeout(timer)
      mailer?.close()
      if (transports.get(key) === entry) transports.delete(key)
    }
    const transport = (async (): Promise<PooledTransport> => {
      const label = `The SMTP server ${config.host}:${config.port}`
      let addresses: string[]
      try {
        addresses = await resolveAddresses(config.host)
      } catch (error) {
        throw new ChannelError(
          'smtp_unavailable',
          `${label} could not be found (${(error as NodeJS.ErrnoException).code ?? 'DNS lookup failed'}); the delivery is tried again.`,
          { retryable: true },
        )
      }
      const host = config.host.replace(/^\[|\]$/g, '')
      for (const resolved of addresses) {
        const refused = egress.refusal(host, resolved, config.port)
        if (refused)
          throw new ChannelError('egress_refused', `${label} is not called: ${refused.message}`, {
            retryable: false,
          })
      }
      // Connect to the address that was checked, and verify the certificate for the name.
      const connectTo = addresses[0]!
      mailer = nodemailer.createTransport({
        pool: true,
        maxConnections: 2,
        maxMessages: 100,
        idleTimeout: settings.idleMs,
        host: connectTo,
        port: config.port,
        secure: config.security === 'tls',
        requireTLS: config.security === 'starttls',
        ignoreTLS: config.security === 'none',
        ...(isIP(host) ? {} : { servername: host }),
        tls: { ...settings.tls, ...(isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' },
        ...(config.user !== undefined ? { auth: { user: config.user, pass: config.pass ?? '' } } : {}),
        connectionTimeout: settings.connectionTimeoutMs,
        greetingTimeout: settings.connectionTimeoutMs,
        socketTimeout: settings.socketTimeoutMs,
        socketCloseTimeout: 1_000,
        disableFileAccess: true,
        disableUrlAccess: true,
        logger: false,
      })
      return {
        mailer,
        touch() {
          clearTimeout(timer)
          timer = setTimeout(close, settings.idleMs)
          timer.unref()
        },
      }
    })()
    entry = { transport, close }
    transports.set(key, entry)
    // A failed set-up is not kept: the next send tries again.
    transport.catch(() => close())
  }
  return entry.transport
}

// ---------------------------------------------------------------------------------------------------
// Errors

interface SmtpError {
  code?: string
  originalCode?: string
  responseCode?: number
  command?: string
  response?: string
  message?: string
  cause?: unknown
}

const tlsCodes =
  /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/

/** The innermost code in an error's cause chain that says the certificate or TLS failed. */
function tlsFailureOf(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    // nodemailer puts its own code on a socket error and keeps the system's as `originalCode`.
    for (const code of [
      (current as { originalCode?: string }).originalCode,
      (current as NodeJS.ErrnoException).code,
    ])
      if (code && tlsCodes.test(code)) return code
    current = current.cause
  }
  return undefined
}

/** What the server said, on one line, without the numbers repeated. */
function serverSaid(error: SmtpError): string {
  const said = (error.response ?? '').replace(/\s+/g, ' ').trim()
  return said ? `: "${said.length > 200 ? `${said.slice(0, 200)}…` : said}"` : ''
}

/**
 * nodemailer's failure as a channel error: no connection, a timeout or a temporary reply (4xx) is
 * retried (`smtp_unavailable`); a refused login (535) is `smtp_auth` and a refused recipient
 * (550/551/553 to RCPT TO) is `smtp_recipient`, both breaking the channel; a certificate that does not
 * verify is `smtp_tls` (the channel's settings); a message the server refuses for its content is
 * `smtp_rejected` (this delivery only).
 */
export function smtpFailure(caught: unknown, label = 'The SMTP server'): ChannelError {
  const error = (
    typeof caught === 'object' && caught !== null ? caught : { message: String(caught) }
  ) as SmtpError
  const status = error.responseCode
  const said = serverSaid(error)
  const tls = tlsFailureOf(caught)
  if (tls || (error.code === 'ETLS' && !/closed unexpectedly/i.test(String(error.message))))
    return new ChannelError(
      'smtp_tls',
      `${label} failed the TLS check (${tls ?? 'the upgrade failed'}). Check the host name and the security setting (TLS on 465, STARTTLS on 587).`,
      { retryable: false, channelBroken: true },
    )
  if (status !== undefined && status >= 400 && status < 500)
    return new ChannelError(
      'smtp_unavailable',
      `${label} answered ${status}${said} (temporary); the delivery is tried again.`,
      { retryable: true },
    )
  if (
    error.code === 'EAUTH' ||
    error.code === 'ENOAUTH' ||
    status === 535 ||
    status === 534 ||
    status === 530
  )
    return new ChannelError(
      'smtp_auth',
      `${label} refused the login${status ? ` (${status}${said})` : ''}. Check the user and password (an app password for Gmail or Outlook), then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (status !== undefined && status >= 500) {
    if (error.code === 'EENVELOPE' && error.command !== 'MAIL FROM' && [550, 551, 553].includes(status))
      return new ChannelError(
        'smtp_recipient',
        `${label} refused a recipient (${status}${said}). Correct the channel's recipients, then send a test.`,
        { retryable: false, channelBroken: true },
      )
    if (error.code === 'EENVELOPE')
      return new ChannelError(
        'smtp_sender',
        `${label} refused the sender or a recipient (${status}${said}). Check the channel's sender address (the server may only send as its user), then send a test.`,
        { retryable: false, channelBroken: true },
      )
    return new ChannelError('smtp_rejected', `${label} refused the message (${status}${said}).`, {
      retryable: false,
      channelBroken: false,
    })
  }
  const reason =
    error.code === 'ETIMEDOUT'
      ? 'no answer in time'
      : error.code === 'EDNS'
        ? 'host not found'
        : error.originalCode === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(error.message))
          ? 'connection refused'
          : error.originalCode === 'ENOTFOUND'
            ? 'host not found'
            : (error.originalCode ?? error.code ?? 'connection failed')
  return new ChannelError(
    'smtp_unavailable',
    `${label} could not be reached (${reason}); the delivery is tried again.`,
    {
      retryable: true,
    },
  )
}
