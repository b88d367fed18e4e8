import { escapeTelegramHtml } from '../adapters/telegram.ts'

// What the bot says in Telegram: commands parsed from a message, bot names matched, and the answers in
// Telegram's HTML (everything from people or bots escaped). No I/O here.

export interface ParsedCommand {
  /** Lower case, without the slash and a `@botname` suffix; undefined for plain text. */
  name: string | undefined
  argument: string
}

export function parseCommand(text: string): ParsedCommand {
  const match = /^\/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s+([\s\S]*))?$/.exec(text.trim())
  if (!match) return { name: undefined, argument: text.trim() }
  return { name: match[1]!.toLowerCase(), argument: (match[2] ?? '').trim() }
}

export interface NamedBot {
  id: string
  name: string
}

/**
 * The bot a person means: the one whose name equals `wanted` ignoring case; else the only one whose
 * name starts with it, else the only one containing it. Several: ambiguous; none: unknown.
 */
export function matchBot<B extends NamedBot>(
  bots: readonly B[],
  wanted: string,
): { bot: B } | { ambiguous: B[] } | { unknown: true } {
  const needle = wanted.trim().toLowerCase()
  if (!needle) return { unknown: true }
  for (const test of [
    (name: string) => name === needle,
    (name: string) => name.startsWith(needle),
    (name: string) => name.includes(needle),
  ]) {
    const found = bots.filter((bot) => test(bot.name.toLowerCase()))
    if (found.length === 1) return { bot: found[0]! }
    if (found.length > 1) return { ambiguous: found }
  }
  return { unknown: true }
}

const e = escapeTelegramHtml

export const helpText = [
  '<b>What I understand</b>',
  '/run <i>bot name</i> — run a bot now; I send the result when it is done',
  '/status — your bots, their last result and next run',
  '/pause <i>bot name</i> — stop a bot’s schedule',
  '/resume <i>bot name</i> — start it again',
  '/help — this list',
  '',
  'Bot names may be written in any case, or shortened while they stay unique.',
].join('\n')

export const plainTextAnswer = `I only understand commands for now.\n\n${helpText}`

export const strangerRefusal = [
  'Hello! This bot belongs to an openOrchestrator workspace and answers only the people of it.',
  '',
  'If that is you: open the dashboard, go to <b>Account → Telegram</b>, make a link code and send it here as <code>/link 123456</code>.',
].join('\n')

export const groupLinkRefusal =
  'Please link in a private chat with me, not in a group: a link lets the chat act for you.'

export const groupCommandRefusal =
  'I answer commands only in a private chat with me (and in the chat this channel sends to), so that results do not reach everyone here. Write to me directly.'

export const tooManyCodesRefusal =
  'Too many wrong codes. Wait an hour, then send a new code from the dashboard.'

export const linkingPausedRefusal =
  'This bot takes no link codes for now: too many wrong link codes were sent to it. Wait an hour, then send a new code from the dashboard.'

export const workspaceDisabledRefusal =
  'This workspace is disabled, so I do nothing for now: no commands, no approvals. Its owners can ask the installation’s admins to enable it again.'

/** The most bots a "which bot?" answer names, and the most characters their names take there. */
const maxNamedBots = 10
const maxNamesChars = 3_000

/**
 * Bot names for an answer, each formatted by `format`: the first ones, at most `max` and within
 * `maxNamesChars` (escaping may make a 100-character name 500), so the answer fits one message.
 */
function namesOf(bots: readonly NamedBot[], max: number, format: (name: string) => string) {
  const names: string[] = []
  let length = 0
  for (const bot of bots.slice(0, max)) {
    const name = format(e(bot.name))
    if (names.length > 0 && length + name.length > maxNamesChars) break
    names.push(name)
    length += name.length + 2
  }
  return { list: names.join(', '), more: bots.length - names.length }
}

export function whichBot(
  command: string,
  matched: { ambiguous: NamedBot[] } | { unknown: true },
  all: NamedBot[],
) {
  if ('ambiguous' in matched) {
    const { list, more } = namesOf(matched.ambiguous, maxNamedBots, (name) => `<b>${name}</b>`)
    const rest = more > 0 ? ` and ${more} more — be more specific` : ''
    return `Several bots match: ${list}${rest}. Write more of the name, e.g. <code>/${command} ${e(matched.ambiguous[0]!.name)}</code>.`
  }
  if (all.length === 0) return 'There are no bots in this workspace yet.'
  const { list, more } = namesOf(all, 20, (name) => name)
  return `I know no bot by that name. The bots are: ${list}${more > 0 ? `, and ${more} more.` : '.'}`
}

export interface StatusBot extends NamedBot {
  enabled: boolean
  nextRunAt: string | null
  pausedReason: string | null
  lastRun: { status: string; summary: string | null; finishedAt: string | null; createdAt: string } | null
}

const statusEmoji: Record<string, string> = {
  completed: '✅',
  failed: '❌',
  timeout: '⏱️',
  cancelled: '⏹️',
  running: '🏃',
  pending: '⏳',
  waiting: '✋',
}

const when = (iso: string) => `${iso.replace('T', ' ').slice(0, 16)} UTC`

/** One line or two per bot; Telegram's 4,096 characters are respected by leaving bots out. */
export function statusText(bots: readonly StatusBot[]): string {
  if (bots.length === 0) return 'There are no bots in this workspace yet.'
  const lines: string[] = ['<b>Your bots</b>']
  let shown = 0
  for (const bot of bots) {
    const state = bot.enabled ? '' : ' ⏸️ paused'
    const last = bot.lastRun
      ? `${statusEmoji[bot.lastRun.status] ?? 'ℹ️'} ${e(truncate(bot.lastRun.summary ?? bot.lastRun.status, 120))} (${when(bot.lastRun.finishedAt ?? bot.lastRun.createdAt)})`
      : 'no runs yet'
    const next = bot.enabled && bot.nextRunAt ? ` · next ${when(bot.nextRunAt)}` : ''
    const entry = `\n<b>${e(bot.name)}</b>${state}\n   ${last}${next}`
    if (lines.join('\n').length + entry.length > 3_900) {
      lines.push(`\n… and ${bots.length - shown} more in the dashboard.`)
      break
    }
    lines.push(entry)
    shown++
  }
  return lines.join('\n')
}

export function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
