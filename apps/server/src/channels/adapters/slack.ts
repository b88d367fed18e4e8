import { z } from 'zod'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from '../channel.types.ts'
import {
  type Block,
  firstLine,
  type Inline,
  isSafeLinkUrl,
  parseMarkdown,
  splitText,
  truncate,
} from './markup.ts'
import {
  type ChannelAnswer,
  checkChannelUrl,
  isServiceUrl,
  oneLine,
  postToChannel,
  retryAfterOf,
} from './webhook.ts'

// Slack through an incoming webhook (https://api.slack.com/messaging/webhooks): Block Kit with the
// text in mrkdwn, within Slack's limits (3,000 characters a section, 50 blocks, 150 a header). The
// webhook URL is the credential (its path is the token): it is a secret and never named in a message.

/** Slack's limits (https://api.slack.com/reference/block-kit/blocks). */
export const slackLimits = { sectionText: 3_000, blocks: 50, headerText: 150, buttonUrl: 3_000 } as const

const slackHosts = new Set(['hooks.slack.com', 'hooks.slack-gov.com'])

export const slackConfigSchema = z.strictObject({
  webhookUrl: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .describe(
      'The incoming webhook URL Slack shows (https://hooks.slack.com/services/…); kept in the vault.',
    ),
})

export type SlackConfig = z.infer<typeof slackConfigSchema>

export const slackAdapter: ChannelAdapter<SlackConfig> = {
  type: 'slack',
  configSchema: slackConfigSchema,
  secretFields: ['webhookUrl'],
  async check(config, egress) {
    if (!(await isSlackUrl(config.webhookUrl, egress)))
      throw new AppError('slack_url_invalid', slackUrlAdvice, 400)
    await checkChannelUrl(config.webhookUrl, egress)
  },
  async send(message, { config, signal, egress }) {
    if (!(await isSlackUrl(config.webhookUrl, egress)))
      throw new ChannelError('slack_url_invalid', slackUrlAdvice, { retryable: false })
    const label = `Slack (${new URL(config.webhookUrl).host})`
    const answer = await postToChannel(
      config.webhookUrl,
      JSON.stringify(slackPayload(message)),
      { 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'openOrchestrator' },
      { kind: 'slack', label, egress, signal },
    )
    if (answer.status >= 200 && answer.status < 300) return
    throw slackFailure(answer, label)
  },
}

const slackUrlAdvice =
  'A Slack incoming webhook URL starts with https://hooks.slack.com/services/ (Slack shows it under Incoming Webhooks of your Slack app). Another host is only called when the operator opens it with OPENORCH_EGRESS_ALLOW.'

/** Slack's own webhook host over https, or a host the operator opened. */
const isSlackUrl = (text: string, egress: EgressPolicy) => isServiceUrl(text, { hosts: slackHosts }, egress)

// ---------------------------------------------------------------------------------------------------
// The message

export interface SlackPayload {
  /** The fallback: what notifications and screen readers show. */
  text: string
  blocks: SlackBlock[]
}

export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji: true } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: Array<{ type: 'mrkdwn'; text: string }> }
  | {
      type: 'actions'
      elements: Array<{ type: 'button'; text: { type: 'plain_text'; text: string }; url: string }>
    }

/** The Block Kit message for `message`: header, the text in sections, facts and footer, a button to the run. */
export function slackPayload(message: ChannelMessage): SlackPayload {
  const head: SlackBlock[] = []
  const tail: SlackBlock[] = []
  if (message.title.trim())
    head.push({
      type: 'header',
      text: { type: 'plain_text', text: truncate(message.title.trim(), slackLimits.headerText), emoji: true },
    })
  if (message.facts.length > 0)
    tail.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: truncate(message.facts.map(escapeMrkdwn).join(' · '), slackLimits.sectionText),
        },
      ],
    })
  if (message.footer?.trim())
    tail.push({
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: truncate(escapeMrkdwn(message.footer.trim()), slackLimits.sectionText) },
      ],
    })
  if (message.link && /^https?:\/\//i.test(message.link) && message.link.length <= slackLimits.buttonUrl)
    tail.push({
      type: 'actions',
      elements: [
        { type: 'button', text: { type: 'plain_text', text: 'Open in openOrchestrator' }, url: message.link },
      ],
    })
  const markdown = message.format === 'short' ? firstLine(message.text) : message.text
  // Fifty blocks hold at most 150,000 characters; twice that of Markdown fills them (a huge output is
  // not parsed to the end only to be cut).
  let sections = mrkdwnSections(
    markdown.slice(0, 2 * slackLimits.blocks * slackLimits.sectionText),
    slackLimits.sectionText,
  )
  const room = slackLimits.blocks - head.length - tail.length
  if (sections.length > room) {
    sections = sections.slice(0, room)
    const last = truncate(sections[room - 1]!, slackLimits.sectionText - 2)
    sections[room - 1] = last.endsWith('…') ? last : `${last}\n…`
  }
  const body: SlackBlock[] = sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } }))
  const fallback = message.title.trim() || oneLine(markdown, 200) || message.event
  return { text: escapeMrkdwn(truncate(fallback, 3_000)), blocks: [...head, ...body, ...tail] }
}

/** Slack wants these three escaped everywhere in text, and nothing else (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Markdown as Slack mrkdwn, in pieces of at most `max` characters cut between blocks where possible. */
export function mrkdwnSections(markdown: string, max: number): string[] {
  const sections: string[] = []
  let current = ''
  let previous: Block['type'] | undefined
  for (const block of parseMarkdown(markdown)) {
    const separator =
      current === '' ? '' : block.type === 'list_item' && previous === 'list_item' ? '\n' : '\n\n'
    previous = block.type
    const rendered = mrkdwnBlock(block)
    if (current.length + separator.length + rendered.length <= max) {
      current += separator + rendered
      continue
    }
    if (current) sections.push(current)
    current = ''
    const pieces = rendered.length <= max ? [rendered] : splitBlock(block, rendered, max)
    sections.push(...pieces.slice(0, -1))
    current = pieces.at(-1) ?? ''
  }
  if (current) sections.push(current)
  return sections
}

/** A block longer than a section: code re-fenced in each piece, anything else cut between lines or words. */
function splitBlock(block: Block, rendered: string, max: number): string[] {
  if (block.type !== 'code') return splitText(rendered, max)
  const fence = '```'
  return splitText(escapeMrkdwn(block.text), max - 2 * fence.length - 2).map(
    (piece) => `${fence}\n${piece}\n${fence}`,
  )
}

function mrkdwnBlock(block: Block): string {
  switch (block.type) {
    case 'paragraph':
      return block.lines.map((line) => mrkdwnInline(line)).join('\n')
    case 'heading':
      return `*${mrkdwnInline(block.content, true)}*`
    case 'quote':
      return block.lines.map((line) => `>${mrkdwnInline(line)}`).join('\n')
    case 'list_item':
      return `${'    '.repeat(block.depth)}${/^\d/.test(block.marker) ? block.marker : '•'} ${mrkdwnInline(block.content)}`
    case 'code':
      return `\`\`\`\n${escapeMrkdwn(block.text)}\n\`\`\``
    case 'rule':
      return '──────────'
  }
}

/** Inline Markdown as mrkdwn; inside bold (a heading) a bold span is just its text. */
function mrkdwnInline(nodes: readonly Inline[], bold = false): string {
  return nodes.map((node) => mrkdwnNode(node, bold)).join('')
}

function mrkdwnNode(node: Inline, bold: boolean): string {
  switch (node.type) {
    case 'text':
      return escapeMrkdwn(node.text)
    case 'code':
      return `\`${escapeMrkdwn(node.text.replace(/`/g, 'ˋ'))}\``
    case 'strong':
      return bold ? mrkdwnInline(node.children, bold) : `*${mrkdwnInline(node.children, true)}*`
    case 'em':
      return `_${mrkdwnInline(node.children, bold)}_`
    case 'strike':
      return `~${mrkdwnInline(node.children, bold)}~`
    case 'link': {
      const words = mrkdwnInline(node.children, bold)
      if (!isSafeLinkUrl(node.url)) return words
      // `|` and `>` end the URL part of <url|text>: percent-encoded they mean the same URL.
      const url = escapeMrkdwn(node.url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C'))
      return `<${url}|${words}>`
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Slack's refusals (https://api.slack.com/messaging/webhooks#handling_errors)

/** The webhook, its channel or its app is gone: sending again will not help. */
const goneCodes = new Set([
  'no_service',
  'no_service_id',
  'no_team',
  'team_disabled',
  'no_active_hooks',
  'channel_not_found',
  'channel_is_archived',
])
/** The token is refused or posting is not allowed: someone must fix the app or the URL. */
const unauthorizedCodes = new Set(['invalid_token', 'action_prohibited', 'posting_to_general_channel_denied'])

export function slackFailure(answer: ChannelAnswer, label: string): ChannelError {
  const { status } = answer
  const body = answer.text.trim()
  const slackCode = /^[a-z_]{1,60}$/.test(body) ? body : undefined
  const said = body ? ` (${oneLine(body, 200)})` : ''
  if (status === 429) {
    const retryAfterMs = retryAfterOf(answer.headers)
    return new ChannelError(
      'slack_rate_limited',
      `${label} answered 429 (too many requests)${retryAfterMs === undefined ? '' : `, asking to wait ${Math.ceil(retryAfterMs / 1000)} s`}; the message is sent again then.`,
      { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    )
  }
  if (status >= 500)
    return new ChannelError(
      'slack_unavailable',
      `${label} answered ${status}${said}; the message is sent again.`,
      {
        retryable: true,
      },
    )
  if (status === 404 || status === 410 || (slackCode && goneCodes.has(slackCode)))
    return new ChannelError(
      'slack_gone',
      `${label} answered ${status}${said}: the webhook, its channel or its app no longer exists. Create a new incoming webhook in Slack and paste its URL into the channel.`,
      { retryable: false, channelBroken: true },
    )
  if (status === 401 || status === 403 || (slackCode && unauthorizedCodes.has(slackCode)))
    return new ChannelError(
      'slack_unauthorized',
      `${label} refused the webhook with ${status}${said}. Check the app's incoming webhook in Slack (it may have been revoked) and paste its URL into the channel again.`,
      { retryable: false, channelBroken: true },
    )
  return new ChannelError('slack_refused', `${label} refused the message with ${status}${said}.`, {
    retryable: false,
    channelBroken: false,
  })
}
