import type { Bot, BotCreate, BotExport, BotExportDocument, BotUpdate } from '@openorch/contracts'
import { botCreateSchema } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, type FieldError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import {
  checkBotCount,
  checkInputSize,
  checkNotesCopy,
  defaultQuotas,
  type Quotas,
  type QuotasOf,
  quotaExceeded,
  scheduleTooFrequent,
} from '../quotas/quotas.ts'
import type { RunService } from '../runs/run.service.ts'
import type { EnqueueRequest, EnqueueResult, RunTrigger } from '../runs/run.types.ts'
import { activeRunsOfSubjects } from '../runs/runs.ts'
import { isValidTimeZone, parseSchedule, ScheduleError, serverTimeZone } from '../schedules/schedule-spec.ts'
import { nextFireTimes, putScheduleIn, removeScheduleIn, updatePoliciesIn } from '../schedules/schedules.ts'
import { onCompleteOf, outputSchemaOf, toBotExport, toBotJson, toolsOf } from './bot.mapper.ts'
import {
  botNamesLike,
  countBots,
  deleteBot,
  findBot,
  findBotByName,
  insertBot,
  latestRunsOf,
  listBots,
  lockBot,
  recentRunsOf,
  updateBot,
} from './bot.store.ts'
import type { BotRow } from './bot.table.ts'
import type { BotNotes, NoteFile } from './bot-notes.ts'
import { outputSchemaProblem } from './bot-output-schema.ts'
import { scheduleOfBot } from './bot-schedule.ts'

/** What the bots need to know of providers: which are configured, and their default model. */
export interface ProviderDirectory {
  list(tenantId: string): Promise<Array<{ name: string; defaultModel: string | null }>>
}

export interface BotServiceDeps {
  database: Db
  bus: Bus
  clock: Clock
  log: Logger
  runs: Pick<RunService, 'enqueue' | 'cancel'>
  providers: ProviderDirectory
  notes: BotNotes
  /** Each workspace's quotas (default: the defaults for every workspace). */
  quotasOf?: QuotasOf
  /** Tells the scheduler (of every process) that schedules changed. */
  onSchedulesChanged?: () => void
  /** The tool-set names a workspace's bots may use (tools/); absent: any name is accepted. */
  toolSets?: (tenantId: string) => Promise<readonly string[]>
  /** Whether a workspace has a pipeline (the pipelines domain answers; absent: not checked). */
  pipelineExists?: (tenantId: string, id: string) => Promise<boolean>
}

/** Who a bot's schedule is kept by (schedules/); bot.schedule-owner.ts says what it holds. */
const scheduleSettingsOf = (row: BotRow) => scheduleOfBot(row)

export const botRunKind = 'bot'

export type BotService = ReturnType<typeof createBotService>

type BotSettings = Omit<BotRow, 'id' | 'tenant_id' | 'created_at' | 'updated_at'>

/** Columns a person sets, from the API's camelCase fields. */
const columnOf = {
  name: 'name',
  description: 'description',
  emoji: 'emoji',
  prompt: 'prompt',
  provider: 'provider',
  model: 'model',
  schedule: 'schedule',
  timezone: 'timezone',
  enabled: 'enabled',
  maxRuntimeSeconds: 'max_runtime_seconds',
  maxRetries: 'max_retries',
  retryDelaySeconds: 'retry_delay_seconds',
  missedRunPolicy: 'missed_run_policy',
  overlapPolicy: 'overlap_policy',
  pauseAfterFailures: 'pause_after_failures',
  jitterSeconds: 'jitter_seconds',
  maxCostPerRunUsd: 'max_cost_per_run_usd',
  dailyBudgetUsd: 'daily_budget_usd',
  maxOutputTokens: 'max_output_tokens',
  tools: 'tools',
  maxToolIterations: 'max_tool_iterations',
  outputSchema: 'output_schema',
  fallbacks: 'fallbacks',
  onComplete: 'on_complete',
  priority: 'priority',
} as const satisfies Record<keyof BotUpdate, keyof BotRow>

/** The enqueue request of a bot run: retries, timeout and per-bot concurrency come from the bot. */
export function botRunRequest(
  bot: BotRow,
  trigger: RunTrigger,
  input: unknown,
  idempotencyKey: string | null,
): EnqueueRequest {
  return {
    tenantId: bot.tenant_id,
    kind: botRunKind,
    trigger,
    input,
    subjectId: bot.id,
    maxRetries: bot.max_retries,
    retryBaseMs: bot.retry_delay_seconds * 1000,
    timeoutMs: bot.max_runtime_seconds * 1000,
    // A bot never overlaps itself, unless its overlap policy allows it.
    concurrencyKey: bot.overlap_policy === 'allow_all' ? null : `bot:${bot.id}`,
    concurrencyLimit: 1,
    idempotencyKey,
    priority: bot.priority,
  }
}

export function createBotService(deps: BotServiceDeps) {
  const { database, clock, log } = deps
  const db = database.db
  const quotasOf: QuotasOf = deps.quotasOf ?? (async () => defaultQuotas)

  /** A schedule may not fire more often than the installation allows (min_schedule_seconds). */
  async function checkFrequency(
    tenantId: string,
    settings: Pick<BotSettings, 'schedule' | 'timezone'>,
  ): Promise<void> {
    if (!settings.schedule) return
    const quotas = await quotasOf(tenantId)
    let spec: ReturnType<typeof parseSchedule>
    try {
      spec = parseSchedule(settings.schedule, settings.timezone)
    } catch {
      return // check() reports the invalid schedule itself
    }
    const tooOften = scheduleTooFrequent(quotas, spec, clock.now())
    if (tooOften)
      throw quotaExceeded(
        'min_schedule_seconds',
        quotas.minScheduleSeconds,
        `The schedule "${settings.schedule}" fires too often. ${tooOften}`,
      )
  }

  async function load(tenantId: string, id: string): Promise<BotRow> {
    const row = await findBot(db, tenantId, id)
    if (!row) throw notFound('bot_not_found', `Bot ${id} does not exist.`)
    return row
  }

  async function withLastRuns(rows: BotRow[], tenantId: string): Promise<Bot[]> {
    const latest = await latestRunsOf(
      db,
      tenantId,
      rows.map((r) => r.id),
    )
    const byBot = new Map(latest.map((r) => [r.bot_id, r]))
    const recent = new Map<string, Array<{ id: string; status: string; result: string | null }>>()
    for (const run of await recentRunsOf(
      db,
      tenantId,
      rows.map((r) => r.id),
    ))
      recent.set(run.bot_id!, [...(recent.get(run.bot_id!) ?? []), run])
    const fireTimes = await nextFireTimes(
      db,
      botRunKind,
      rows.map((r) => r.id),
    )
    return rows.map((row) =>
      toBotJson(row, fireTimes.get(row.id) ?? null, byBot.get(row.id), recent.get(row.id)),
    )
  }

  /** Checks what zod cannot: schedule, time zone, provider set up, a model to use. Every bad field at once. */
  async function check(tenantId: string, settings: BotSettings): Promise<void> {
    const errors: FieldError[] = []
    if (!isValidTimeZone(settings.timezone))
      errors.push({
        field: 'timezone',
        message: `"${settings.timezone}" is not an IANA time zone (e.g. Europe/Berlin).`,
      })
    else if (settings.schedule) {
      try {
        parseSchedule(settings.schedule, settings.timezone)
      } catch (error) {
        if (!(error instanceof ScheduleError)) throw error
        errors.push({ field: 'schedule', message: error.message })
      }
    }
    const providers = await deps.providers.list(tenantId)
    if (!providers.some((p) => p.name === settings.provider))
      errors.push({
        field: 'provider',
        message: `The provider "${settings.provider}" is not set up in this workspace: configure it first with PUT /api/v1/providers/${settings.provider}.`,
      })
    if (!settings.model)
      errors.push({ field: 'model', message: 'Choose a model (the provider has no default model).' })
    const schema = outputSchemaOf(settings)
    const schemaProblem = settings.output_schema === null ? undefined : outputSchemaProblem(schema)
    if (schemaProblem) errors.push({ field: 'outputSchema', message: `The output schema ${schemaProblem}.` })
    const targets = new Set<string>()
    for (const [index, rule] of onCompleteOf(settings).entries()) {
      const key = 'botId' in rule.start ? `bot:${rule.start.botId}` : `pipeline:${rule.start.pipelineId}`
      // The same target twice would start it twice per run: a fan-out without a reason.
      if (targets.has(key)) {
        errors.push({
          field: `onComplete[${index}].start`,
          message: 'This bot or pipeline is started by an earlier rule already; one rule per target.',
        })
        continue
      }
      targets.add(key)
      if (!('botId' in rule.start)) {
        const pipelineId = rule.start.pipelineId
        if (deps.pipelineExists && !(await deps.pipelineExists(tenantId, pipelineId)))
          errors.push({
            field: `onComplete[${index}].start.pipelineId`,
            message: `Pipeline ${pipelineId} does not exist in this workspace.`,
          })
        continue
      }
      const target = rule.start.botId
      if ('id' in settings && target === (settings as BotRow).id)
        errors.push({
          field: `onComplete[${index}].start.botId`,
          message: 'A bot cannot start itself when it completes.',
        })
      else if (!(await findBot(db, tenantId, target)))
        errors.push({
          field: `onComplete[${index}].start.botId`,
          message: `Bot ${target} does not exist in this workspace.`,
        })
    }
    const tools = toolsOf(settings)
    if (tools.length > 0 && deps.toolSets) {
      const available = new Set(await deps.toolSets(tenantId))
      const unknown = tools.filter((name) => !available.has(name))
      if (unknown.length > 0)
        errors.push({
          field: 'tools',
          message: `${unknown.map((name) => `"${name}"`).join(', ')} ${unknown.length === 1 ? 'is not a tool set' : 'are not tool sets'} of this installation; GET /api/v1/tools lists them.`,
        })
    }
    if (errors.length > 0) {
      const providerOnly = errors.every((e) => e.field === 'provider')
      throw new AppError(
        providerOnly ? 'provider_not_configured' : 'validation_failed',
        `The bot has ${errors.length} invalid field${errors.length === 1 ? '' : 's'}: ${errors
          .map((e) => `${e.field}: ${e.message}`)
          .join('; ')}`,
        400,
        { errors },
      )
    }
  }

  async function nameTaken(tenantId: string, name: string, exceptId?: string): Promise<void> {
    const other = await findBotByName(db, tenantId, name)
    if (other && other.id !== exceptId)
      throw new AppError(
        'bot_name_taken',
        `A bot named "${name}" exists already; choose another name.`,
        409,
        {
          errors: [{ field: 'name', message: 'taken' }],
        },
      )
  }

  /** A free name: "Scout", else "Scout (copy)", "Scout (copy 2)", … */
  async function freeName(tenantId: string, name: string, suffix: string): Promise<string> {
    const base = name.slice(0, 80)
    const taken = await botNamesLike(db, tenantId, base)
    if (!taken.has(name)) return name
    for (let n = 1; ; n++) {
      const candidate = `${base} (${suffix}${n === 1 ? '' : ` ${n}`})`
      if (!taken.has(candidate)) return candidate
    }
  }

  async function settingsOf(
    tenantId: string,
    input: ReturnType<typeof botCreateSchema.parse>,
  ): Promise<BotSettings> {
    const model =
      input.model ??
      (await deps.providers.list(tenantId)).find((p) => p.name === input.provider)?.defaultModel ??
      ''
    return {
      name: input.name,
      description: input.description,
      emoji: input.emoji,
      prompt: input.prompt,
      provider: input.provider,
      model,
      schedule: input.schedule,
      timezone: input.timezone ?? serverTimeZone(),
      enabled: input.enabled ? 1 : 0,
      max_runtime_seconds: input.maxRuntimeSeconds,
      max_retries: input.maxRetries,
      retry_delay_seconds: input.retryDelaySeconds,
      missed_run_policy: input.missedRunPolicy,
      overlap_policy: input.overlapPolicy,
      pause_after_failures: input.pauseAfterFailures,
      jitter_seconds: input.jitterSeconds,
      max_cost_per_run_usd: input.maxCostPerRunUsd,
      daily_budget_usd: input.dailyBudgetUsd,
      max_output_tokens: input.maxOutputTokens,
      tools: JSON.stringify(input.tools),
      fallbacks: JSON.stringify(input.fallbacks),
      on_complete: JSON.stringify(input.onComplete),
      priority: input.priority,
      max_tool_iterations: input.maxToolIterations,
      output_schema: input.outputSchema === null ? null : JSON.stringify(input.outputSchema),
      consecutive_failures: 0,
      paused_reason: null,
      budget_warned_day: null,
    }
  }

  function changed(): void {
    deps.onSchedulesChanged?.()
  }

  async function insert(
    tenantId: string,
    settings: BotSettings,
  ): Promise<{ row: BotRow; nextFireAt: number | null }> {
    const now = clock.now()
    const id = newId()
    const row: BotRow = { ...settings, id, tenant_id: tenantId, created_at: now, updated_at: now }
    const quotas = await quotasOf(tenantId)
    let nextFireAt: number | null = null
    try {
      await writeTransaction(database, async (trx) => {
        // Count and insert under one lock (SQLite's write lock, the workspace's row on PostgreSQL), so
        // parallel creates cannot overshoot the bots quota together.
        if (database.dialect === 'postgres')
          await trx
            .selectFrom('tenants')
            .select('tenant_id')
            .where('tenant_id', '=', tenantId)
            .forUpdate()
            .execute()
        checkBotCount(quotas, await countBots(trx, tenantId))
        await insertBot(trx, row)
        const schedule = scheduleSettingsOf(row)
        if (schedule) nextFireAt = await putScheduleIn(trx, schedule, now)
      })
    } catch (error) {
      if (error instanceof AppError) throw error
      // Two creates racing for one name: the unique index decides.
      if (await findBotByName(db, tenantId, row.name)) await nameTaken(tenantId, row.name)
      throw error
    }
    log.info({ botId: id, tenantId, schedule: row.schedule, enabled: row.enabled === 1 }, 'bot created')
    if (nextFireAt !== null) changed()
    return { row, nextFireAt }
  }

  async function create(tenantId: string, body: BotCreate): Promise<Bot> {
    const settings = await settingsOf(tenantId, botCreateSchema.parse(body))
    await check(tenantId, settings)
    await checkFrequency(tenantId, settings)
    await nameTaken(tenantId, settings.name)
    const { row, nextFireAt } = await insert(tenantId, settings)
    return toBotJson(row, nextFireAt, undefined)
  }

  async function get(tenantId: string, id: string): Promise<Bot> {
    const [bot] = await withLastRuns([await load(tenantId, id)], tenantId)
    return bot!
  }

  async function list(
    tenantId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ items: Bot[]; nextCursor: string | null }> {
    const rows = await listBots(db, tenantId, { after: page.cursor, limit: page.limit + 1 })
    const items = rows.slice(0, page.limit)
    return {
      items: await withLastRuns(items, tenantId),
      nextCursor: rows.length > page.limit ? (items[items.length - 1]?.id ?? null) : null,
    }
  }

  async function update(tenantId: string, id: string, patch: BotUpdate): Promise<Bot> {
    const current = await load(tenantId, id)
    const set: Partial<BotRow> = {}
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue
      const column = columnOf[field as keyof BotUpdate]
      ;(set as Record<string, unknown>)[column] =
        typeof value === 'boolean'
          ? value
            ? 1
            : 0
          : Array.isArray(value) || (typeof value === 'object' && value !== null)
            ? JSON.stringify(value)
            : value
    }
    const next: BotRow = { ...current, ...set }
    await check(tenantId, next)
    // A changed schedule, and a schedule being switched on, are held to the minimum: an older bot can
    // still be renamed, but not re-enabled (or copied) with a schedule faster than the limit.
    if (
      next.schedule !== current.schedule ||
      next.timezone !== current.timezone ||
      (next.enabled === 1 && current.enabled === 0)
    )
      await checkFrequency(tenantId, next)
    if (set.name !== undefined) await nameTaken(tenantId, next.name, id)
    const now = clock.now()
    const scheduleChanged =
      next.schedule !== current.schedule ||
      next.timezone !== current.timezone ||
      next.enabled !== current.enabled ||
      next.jitter_seconds !== current.jitter_seconds
    const policiesChanged =
      next.missed_run_policy !== current.missed_run_policy || next.overlap_policy !== current.overlap_policy
    // Enabling again clears a pause and starts the failure count afresh.
    if (set.enabled === 1 && current.enabled === 0)
      Object.assign(set, { paused_reason: null, consecutive_failures: 0 })
    // The bot and its schedule change together, or not at all.
    const row = await writeTransaction(database, async (trx) => {
      const updated = await updateBot(trx, tenantId, id, { ...set, updated_at: now })
      if (!updated) return undefined
      const schedule = scheduleSettingsOf(updated)
      if (!schedule) await removeScheduleIn(trx, botRunKind, id)
      else if (scheduleChanged) await putScheduleIn(trx, schedule, now)
      else if (policiesChanged) await updatePoliciesIn(trx, botRunKind, id, schedule, now)
      return updated
    })
    if (!row) throw notFound('bot_not_found', `Bot ${id} does not exist.`)
    if (scheduleChanged) changed()
    return get(tenantId, row.id)
  }

  async function remove(tenantId: string, id: string): Promise<void> {
    await load(tenantId, id)
    const deleted = await writeTransaction(database, async (trx) => {
      if (!(await deleteBot(trx, tenantId, id))) return false
      await removeScheduleIn(trx, botRunKind, id)
      await deps.notes.removeAll(id, trx)
      return true
    })
    if (!deleted) throw notFound('bot_not_found', `Bot ${id} does not exist.`)
    // Its queued and running runs would only fail with bot_not_found: cancel them now.
    const active = await activeRunsOfSubjects(db, [{ tenantId, subjectId: id }])
    for (const run of active.get(id) ?? []) await deps.runs.cancel(tenantId, run.id).catch(() => undefined)
    log.info({ botId: id, tenantId }, 'bot deleted (its runs are kept for history and usage)')
    changed()
  }

  async function duplicate(tenantId: string, id: string): Promise<Bot> {
    const source = await load(tenantId, id)
    // A copy counts like new notes (checked here) and a new bot (checked by insert) before anything is written.
    const quotas = await quotasOf(tenantId)
    checkNotesCopy(quotas, await deps.notes.list(source.id))
    await checkFrequency(tenantId, source)
    const { id: _id, tenant_id: _tenant, created_at: _created, updated_at: _updated, ...settings } = source
    const { row, nextFireAt } = await insert(tenantId, {
      ...settings,
      name: await freeName(tenantId, source.name, 'copy'),
      consecutive_failures: 0,
      paused_reason: null,
      budget_warned_day: null,
    })
    // Under the copy's lock: a note written to the new bot meanwhile waits, then counts the copied ones.
    await underBotLock(tenantId, row.id, (trx) =>
      deps.notes.copy(source.id, { tenantId, botId: row.id }, quotas, trx),
    )
    return toBotJson(row, nextFireAt, undefined)
  }

  /**
   * Runs `work` on the bot's files under the bot's lock (SQLite's write lock, the bot's row on
   * PostgreSQL), for every process sharing the database; bot_not_found once the bot is deleted.
   */
  async function underBotLock<T>(
    tenantId: string,
    id: string,
    work: (trx: Kysely<Tables>) => Promise<T>,
  ): Promise<T> {
    return writeTransaction(database, async (trx) => {
      if (!(await lockBot(trx, tenantId, id, database.dialect)))
        throw notFound('bot_not_found', `Bot ${id} does not exist.`)
      return work(trx)
    })
  }

  /**
   * Creates or replaces a note. With `quotas`, the bot's notes are counted and the note written under
   * the bot's lock, so parallel writes cannot overshoot the notes quotas together (the outside attack
   * stored 8 notes against a limit of 3 with 100 parallel writes).
   */
  async function putNote(
    tenantId: string,
    id: string,
    name: string,
    content: string,
    quotas?: Quotas,
  ): Promise<NoteFile> {
    return underBotLock(tenantId, id, (trx) =>
      deps.notes.put({ tenantId, botId: id }, name, content, quotas, trx),
    )
  }

  async function exportBot(tenantId: string, id: string): Promise<BotExportDocument> {
    return toBotExport(await load(tenantId, id))
  }

  /**
   * Creates a bot from an export. Nothing runs at import: the bot arrives disabled, so a person
   * looks at it before its schedule fires (an import is untrusted input).
   */
  async function importBot(tenantId: string, document: BotExport): Promise<Bot> {
    const settings = await settingsOf(tenantId, botCreateSchema.parse(document.bot))
    settings.enabled = 0
    await check(tenantId, settings)
    await checkFrequency(tenantId, settings)
    settings.name = await freeName(tenantId, settings.name, 'imported')
    const { row, nextFireAt } = await insert(tenantId, settings)
    return toBotJson(row, nextFireAt, undefined)
  }

  /** Starts a run now. The same Idempotency-Key within 24 h returns the first run instead of a second. */
  async function runNow(
    tenantId: string,
    id: string,
    options: { input?: unknown; trigger: RunTrigger; idempotencyKey?: string | undefined },
  ): Promise<EnqueueResult> {
    const bot = await load(tenantId, id)
    checkInputSize(await quotasOf(tenantId), options.input)
    const key = options.idempotencyKey ? `user:${bot.id}:${options.idempotencyKey}` : null
    return deps.runs.enqueue(botRunRequest(bot, options.trigger, options.input ?? null, key))
  }

  return { create, get, list, update, remove, duplicate, exportBot, importBot, runNow, load, putNote }
}
