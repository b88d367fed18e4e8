import { AppError } from '../platform/errors.ts'
import type { Quotas } from '../platform/quota-limits.ts'
import type { ScheduleSpec } from '../schedules/schedule-spec.ts'

// What one workspace may hold and ask for (issue 11 item 7, decision 0019): without limits an editor
// could fill the disk with notes, the memory of every run with them, and the provider bill with
// bots firing every second. Limits are set per installation (environment) and apply to each
// workspace on its own.

// The limits and their defaults live in platform/ (the configuration reads them); the rules here.
export { defaultQuotas, type Quotas } from '../platform/quota-limits.ts'

/** The quota names as they appear in problems (`quota`) and in GET /quotas. */
export type QuotaName =
  | 'bots'
  | 'notes_per_bot'
  | 'note_bytes_per_bot'
  | 'input_bytes'
  | 'min_schedule_seconds'
  | 'daily_budget_usd'

/**
 * 409 `quota_exceeded`, naming the quota and its limit: the request is fine, the workspace is full.
 * Not 403 (nothing is forbidden to this caller) and not 429 (waiting does not help).
 */
export function quotaExceeded(quota: QuotaName, limit: number, detail: string): AppError {
  return new AppError(
    'quota_exceeded',
    `${detail} An operator can raise the installation's limits (decision 0019).`,
    409,
    { members: { quota, limit } },
  )
}

/** Refuses a new bot when the workspace has `count` already. */
export function checkBotCount(quotas: Quotas, count: number): void {
  if (count >= quotas.bots)
    throw quotaExceeded(
      'bots',
      quotas.bots,
      `This workspace has ${count} bots, the most it may have (${quotas.bots}). Delete bots it no longer needs.`,
    )
}

/** Refuses a run input larger than the quota (measured as the JSON it is stored as). */
export function checkInputSize(quotas: Quotas, input: unknown): void {
  if (input === undefined || input === null) return
  const bytes = Buffer.byteLength(JSON.stringify(input), 'utf8')
  if (bytes > quotas.inputBytes)
    throw quotaExceeded(
      'input_bytes',
      quotas.inputBytes,
      `The run input is ${bytes} bytes; a run input may have at most ${quotas.inputBytes}. Put large data in a note or behind a URL.`,
    )
}

/** The shortest gap between fires: an interval's length, or the least of a cron's next 64 gaps. */
export function shortestGapMs(spec: ScheduleSpec, from: number): number {
  let previous = spec.nextAfter(from)
  if (previous === null) return Number.POSITIVE_INFINITY
  let shortest = Number.POSITIVE_INFINITY
  for (let i = 0; i < 64; i++) {
    const next = spec.nextAfter(previous)
    if (next === null) break
    shortest = Math.min(shortest, next - previous)
    previous = next
  }
  return shortest
}

/** Why `spec` fires too often, or undefined. */
export function scheduleTooFrequent(quotas: Quotas, spec: ScheduleSpec, now: number): string | undefined {
  const gap = shortestGapMs(spec, now)
  if (gap >= quotas.minScheduleSeconds * 1000) return undefined
  return `It fires every ${formatSeconds(gap / 1000)} at times; schedules of this installation fire at most once every ${formatSeconds(quotas.minScheduleSeconds)} (min_schedule_seconds ${quotas.minScheduleSeconds}).`
}

function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds * 10) / 10} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  return `${Math.round(seconds / 3600)} h`
}

/** Refuses writing `bytes` into note `name` when the bot's notes would exceed their count or size. */
export function checkNoteWrite(
  quotas: Quotas,
  existing: ReadonlyArray<{ name: string; size: number }>,
  name: string,
  bytes: number,
): void {
  const replaced = existing.find((note) => note.name === name)
  if (!replaced && existing.length >= quotas.notesPerBot)
    throw quotaExceeded(
      'notes_per_bot',
      quotas.notesPerBot,
      `The bot has ${existing.length} notes, the most a bot may have (${quotas.notesPerBot}). Delete or merge notes first.`,
    )
  const total = existing.reduce((sum, note) => sum + note.size, 0) - (replaced?.size ?? 0) + bytes
  if (total > quotas.noteBytesPerBot)
    throw quotaExceeded(
      'note_bytes_per_bot',
      quotas.noteBytesPerBot,
      `The bot's notes would take ${total} bytes; a bot's notes may take at most ${quotas.noteBytesPerBot}. Shorten or delete notes first.`,
    )
}

/** Refuses copying a bot's notes when they would not fit a bot (a copy counts like new notes). */
export function checkNotesCopy(quotas: Quotas, notes: ReadonlyArray<{ size: number }>): void {
  if (notes.length > quotas.notesPerBot)
    throw quotaExceeded(
      'notes_per_bot',
      quotas.notesPerBot,
      `The bot has ${notes.length} notes, more than a bot may have (${quotas.notesPerBot}).`,
    )
  const total = notes.reduce((sum, note) => sum + note.size, 0)
  if (total > quotas.noteBytesPerBot)
    throw quotaExceeded(
      'note_bytes_per_bot',
      quotas.noteBytesPerBot,
      `The bot's notes take ${total} bytes, more than a bot's notes may take (${quotas.noteBytesPerBot}).`,
    )
}

/** A workspace's own limits (tenants.quotas, migration 0016): a field absent or null is the installation's. */
export interface QuotaOverrides {
  bots?: number | null
  notesPerBot?: number | null
  noteBytesPerBot?: number | null
  inputBytes?: number | null
  minScheduleSeconds?: number | null
  /** 0: no budget for this workspace. */
  dailyBudgetUsd?: number | null
}

/** The installation's limits with a workspace's overrides on top. */
export function resolveQuotas(installation: Quotas, overrides: QuotaOverrides | null): Quotas {
  if (!overrides) return installation
  const pick = (value: number | null | undefined, fallback: number) => value ?? fallback
  const budget = overrides.dailyBudgetUsd
  return {
    bots: pick(overrides.bots, installation.bots),
    notesPerBot: pick(overrides.notesPerBot, installation.notesPerBot),
    noteBytesPerBot: pick(overrides.noteBytesPerBot, installation.noteBytesPerBot),
    inputBytes: pick(overrides.inputBytes, installation.inputBytes),
    minScheduleSeconds: pick(overrides.minScheduleSeconds, installation.minScheduleSeconds),
    dailyBudgetUsd:
      budget === undefined || budget === null ? installation.dailyBudgetUsd : budget === 0 ? null : budget,
  }
}

/** Each workspace's quotas, read from its row at every check (so every process agrees at once). */
export type QuotasOf = (tenantId: string) => Promise<Quotas>
