import type { Run } from '../runs/runs.ts'
import type { ChannelMessage, NotificationData, NotifiedBot } from './channel.types.ts'

// What a notification says, built from the event it reports: a bot run's outcome, or a system event
// of the workspace. The same message goes to every channel type; each adapter renders it.

/** What a notification run is asked to deliver (its input). */
export interface NotificationInput {
  eventId: string
  /** `run.completed`, `run.failed`, `run.timeout`, or a system event (`bot.paused`, …). */
  event: string
  channelId: string
  format: ChannelMessage['format']
  /** The bot run reported, for run events. */
  reportedRunId: string | null
  /** The event's payload as stored. */
  payload: Record<string, unknown>
  createdAt: number
}

const statusWords: Record<string, { emoji: string; word: string; severity: ChannelMessage['severity'] }> = {
  completed: { emoji: '✅', word: 'completed', severity: 'success' },
  failed: { emoji: '❌', word: 'failed', severity: 'error' },
  timeout: { emoji: '⏱️', word: 'timed out', severity: 'error' },
  cancelled: { emoji: '⏹️', word: 'cancelled', severity: 'warning' },
}

const systemTitles: Record<string, (payload: Record<string, unknown>) => string> = {
  'bot.paused': (p) => `⏸️ ${p.botName ?? 'A bot'} was paused after failing again and again`,
  'bot.budget_warning': (p) =>
    `💸 ${p.botName ?? 'A bot'} has spent ${Math.round(Number(p.share ?? 0) * 100)} % of its daily budget`,
  'run.dead_lettered': () => '🪦 A run failed for good and waits to be retried by hand',
  'approval.requested': (p) =>
    p.kind === 'pipeline'
      ? `✋ Pipeline ${p.subjectName ?? ''} asks for approval of step ${p.tool}`.replace('  ', ' ')
      : `✋ ${p.botName ?? p.subjectName ?? 'A bot'} asks for approval: ${p.tool}`,
  'approval.decided': (p) => `☑️ Approval of ${p.tool} ${p.status}`,
}

/** The first non-empty line of a text. */
export function firstLineOf(text: string): string {
  return (
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? ''
  )
}

/** The text of a bot run's output (`{ text }`); empty for anything else. */
export function outputTextOf(run: Run): string {
  const output = run.output as { text?: unknown } | null
  return typeof output?.text === 'string' ? output.text : ''
}

/** "Next run: Fri 4 Dec, 15:00 (Europe/Berlin)" in the bot's zone; null when it is not scheduled. */
export function nextRunLine(bot: NotifiedBot | undefined): string | null {
  if (!bot?.nextRunAt) return null
  const timeZone = bot.timezone ?? 'UTC'
  const when = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(bot.nextRunAt)
  return `Next run: ${when} (${timeZone})`
}

/**
 * A bot run's outcome. `summary`: the two sentences the bot's model wrote for the `summary` format;
 * absent (or the format is another), the first line (`short`) or the whole text (`full`).
 */
export function messageOfRun(
  input: NotificationInput,
  run: Run,
  bot: NotifiedBot | undefined,
  link: string | null,
  summary?: string,
): ChannelMessage {
  const botName = bot?.name ?? null
  const words = statusWords[run.status] ?? { emoji: 'ℹ️', word: run.status, severity: 'info' as const }
  const text = outputTextOf(run)
  const result = (run.result ?? {}) as {
    isNew?: boolean
    tokensIn?: number
    tokensOut?: number
    costUsd?: number | null
  }
  const firstLine = firstLineOf(text)
  const body =
    run.error && run.status !== 'completed'
      ? `${run.error.message}`
      : input.format === 'full'
        ? text
        : input.format === 'summary' && summary
          ? summary
          : firstLine.length > 280
            ? `${firstLine.slice(0, 279)}…`
            : firstLine
  const facts: string[] = []
  if (run.finishedAt)
    facts.push(new Date(run.finishedAt).toISOString().replace('T', ' ').slice(0, 16) + ' UTC')
  if (run.durationMs !== null) facts.push(`${Math.max(1, Math.round(run.durationMs / 1000))} s`)
  if (result.tokensIn !== undefined)
    facts.push(`${(result.tokensIn + (result.tokensOut ?? 0)).toLocaleString('en')} tokens`)
  if (typeof result.costUsd === 'number') facts.push(`$${result.costUsd.toFixed(4)}`)
  return {
    eventId: input.eventId,
    event: input.event,
    title: `${words.emoji} ${botName ?? 'Bot'} — ${words.word}${result.isNew === true ? ' (new)' : ''}`,
    text: body,
    format: input.format,
    facts,
    link,
    footer: nextRunLine(bot),
    severity: words.severity,
    data: {
      eventId: input.eventId,
      event: input.event,
      botId: run.subjectId,
      botName,
      runId: run.id,
      status: run.status,
      isNew: typeof result.isNew === 'boolean' ? result.isNew : null,
      output: run.output,
      error: run.error ? { code: run.error.code, message: run.error.message } : null,
      createdAt: new Date(input.createdAt).toISOString(),
    },
  }
}

export function messageOfSystemEvent(input: NotificationInput, link: string | null): ChannelMessage {
  const payload = input.payload
  const title = (systemTitles[input.event] ?? (() => `ℹ️ ${input.event}`))(payload)
  const error = payload.error as NotificationData['error'] | undefined
  const lines = [
    typeof payload.reason === 'string' ? payload.reason : null,
    // What is to be approved (a tool call's arguments, a step's output), shortened by the approvals domain.
    input.event === 'approval.requested' && typeof payload.arguments === 'string' && payload.arguments
      ? `${payload.kind === 'pipeline' ? 'Output' : 'Arguments'}: ${payload.arguments}`
      : null,
    typeof payload.comment === 'string' ? `Comment: ${payload.comment}` : null,
    error ? `${error.code}: ${error.message}` : null,
  ].filter((line): line is string => line !== null)
  return {
    eventId: input.eventId,
    event: input.event,
    title,
    text: lines.join('\n'),
    format: input.format,
    facts: [],
    link,
    footer: null,
    severity:
      input.event === 'bot.budget_warning' || input.event === 'approval.requested' ? 'warning' : 'error',
    data: {
      eventId: input.eventId,
      event: input.event,
      botId:
        typeof payload.botId === 'string'
          ? payload.botId
          : typeof payload.subjectId === 'string' && payload.kind === 'bot'
            ? payload.subjectId
            : null,
      botName: typeof payload.botName === 'string' ? payload.botName : null,
      runId: typeof payload.runId === 'string' ? payload.runId : null,
      status: typeof payload.status === 'string' ? payload.status : null,
      isNew: null,
      output: null,
      error: error ?? null,
      createdAt: new Date(input.createdAt).toISOString(),
    },
  }
}

/** The message a channel test sends. */
export function testMessage(now: number): ChannelMessage {
  const eventId = `test-${now}`
  return {
    eventId,
    event: 'test',
    title: '👋 openOrchestrator test message',
    text: 'If you can read this, the channel works. Bots that notify it will send their results here.',
    format: 'short',
    facts: [new Date(now).toISOString().replace('T', ' ').slice(0, 16) + ' UTC'],
    link: null,
    footer: null,
    severity: 'info',
    data: {
      eventId,
      event: 'test',
      botId: null,
      botName: null,
      runId: null,
      status: null,
      isNew: null,
      output: null,
      error: null,
      createdAt: new Date(now).toISOString(),
    },
  }
}

/** One message for everything a channel held in a quiet window, in the order it happened. */
export function digestMessage(
  input: NotificationInput,
  items: readonly ChannelMessage[],
  link: string | null,
): ChannelMessage {
  const lines = items.map((item) => {
    const first = item.text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim()
    return `- ${item.title}${first ? `: ${first.length > 200 ? `${first.slice(0, 199)}…` : first}` : ''}`
  })
  const severity = items.some((item) => item.severity === 'error')
    ? 'error'
    : items.some((item) => item.severity === 'warning')
      ? 'warning'
      : 'info'
  return {
    eventId: input.eventId,
    event: input.event,
    title: `🌙 ${items.length} notification${items.length === 1 ? '' : 's'} during quiet hours`,
    text: lines.join('\n'),
    format: 'full',
    facts: [],
    link,
    footer: null,
    severity,
    data: {
      eventId: input.eventId,
      event: input.event,
      botId: null,
      botName: null,
      runId: null,
      status: null,
      isNew: null,
      output: items.map((item) => item.data),
      error: null,
      createdAt: new Date(input.createdAt).toISOString(),
    },
  }
}
