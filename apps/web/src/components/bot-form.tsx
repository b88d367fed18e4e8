import type { Bot, BotCreate, ProviderName } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useQuery } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { useClient } from '../lib/api.tsx'
import { type Fallback, fieldErrorsOf, type OnComplete } from '../lib/bot-form-fields.ts'
import { providerCatalog } from '../lib/catalog.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link } from '../lib/router.tsx'
import { FallbacksEditor, OnCompleteEditor } from './bot-chain.tsx'
import { ScheduleHelper } from './schedule-helper.tsx'
import { Button, Card, ErrorNote, Field, Select, TextArea, TextInput } from './ui.tsx'

// Create and edit a bot: the settings people change, with sensible defaults. Field errors from the
// server (validation_failed, invalid schedule, provider not set up) appear under their field.

export type BotFormValues = {
  fallbacks: Fallback[]
  onComplete: OnComplete[]
} & Required<
  Pick<
    BotCreate,
    | 'name'
    | 'emoji'
    | 'description'
    | 'prompt'
    | 'provider'
    | 'model'
    | 'schedule'
    | 'timezone'
    | 'enabled'
    | 'maxRuntimeSeconds'
    | 'maxRetries'
    | 'dailyBudgetUsd'
    | 'maxCostPerRunUsd'
    | 'tools'
  >
>

export function valuesOfBot(bot: Bot): BotFormValues {
  return {
    name: bot.name,
    emoji: bot.emoji,
    description: bot.description,
    prompt: bot.prompt,
    provider: bot.provider,
    model: bot.model,
    schedule: bot.schedule,
    timezone: bot.timezone,
    enabled: bot.enabled,
    maxRuntimeSeconds: bot.maxRuntimeSeconds,
    maxRetries: bot.maxRetries,
    dailyBudgetUsd: bot.dailyBudgetUsd,
    maxCostPerRunUsd: bot.maxCostPerRunUsd,
    tools: bot.tools,
    fallbacks: bot.fallbacks,
    onComplete: bot.onComplete,
  }
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

export function BotForm({
  botId,
  initial,
  submitLabel,
  onSubmit,
}: {
  /** The bot being edited; undefined for a new one. */
  botId?: string
  initial: BotFormValues
  submitLabel: string
  onSubmit: (values: BotFormValues) => Promise<unknown>
}) {
  const { t } = useI18n()
  const client = useClient()
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => client.providers.list() })
  const toolSets = useQuery({ queryKey: ['tools'], queryFn: () => client.tools.list() })
  const [values, setValues] = useState<BotFormValues>(initial)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const set = <K extends keyof BotFormValues>(key: K, value: BotFormValues[K]) =>
    setValues((v) => ({ ...v, [key]: value }))

  const configured = providers.data?.items ?? []
  const provider = configured.find((p) => p.name === values.provider)
  const fieldErrors = fieldErrorsOf(error instanceof ApiError ? (error.problem?.errors ?? []) : [])
  const fieldError = (name: string) => fieldErrors.get(name)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await onSubmit({ ...values, schedule: values.schedule?.trim() ? values.schedule.trim() : null })
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  const numberOrNull = (text: string) => (text.trim() === '' ? null : Number(text))

  return (
    <form onSubmit={submit} className="space-y-6" noValidate>
      <Card className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-[6rem_1fr]">
          <Field label={t('bot.emoji')}>
            {(props) => (
              <TextInput
                {...props}
                value={values.emoji ?? ''}
                maxLength={16}
                onChange={(e) => set('emoji', e.target.value || null)}
              />
            )}
          </Field>
          <Field label={t('bot.name')} error={fieldError('name')}>
            {(props) => (
              <TextInput
                {...props}
                name="name"
                required
                value={values.name}
                onChange={(e) => set('name', e.target.value)}
              />
            )}
          </Field>
        </div>
        <Field label={t('bot.description')} hint={t('bot.descriptionHint')}>
          {(props) => (
            <TextInput
              {...props}
              value={values.description}
              onChange={(e) => set('description', e.target.value)}
            />
          )}
        </Field>
        <Field label={t('bot.prompt')} hint={t('bot.promptHint')} error={fieldError('prompt')}>
          {(props) => (
            <TextArea
              {...props}
              name="prompt"
              rows={6}
              required
              value={values.prompt}
              onChange={(e) => set('prompt', e.target.value)}
            />
          )}
        </Field>
      </Card>

      <Card className="space-y-4">
        {providers.isSuccess && configured.length === 0 && (
          <p role="alert" className="text-sm">
            {t('bot.noProvider')} <Link href="/providers">{t('bot.setUpProvider')}</Link>
          </p>
        )}
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label={t('bot.provider')} error={fieldError('provider')}>
            {(props) => (
              <Select
                {...props}
                value={values.provider}
                onChange={(e) => {
                  const next = configured.find((p) => p.name === e.target.value)
                  setValues((v) => ({
                    ...v,
                    provider: e.target.value as ProviderName,
                    model: next?.defaultModel ?? next?.models[0] ?? v.model,
                  }))
                }}
              >
                {providerCatalog.map((p) => (
                  <option key={p.name} value={p.name} disabled={!configured.some((c) => c.name === p.name)}>
                    {p.label}
                    {configured.some((c) => c.name === p.name) ? '' : ` (${t('bot.notSetUp')})`}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Field label={t('bot.model')} error={fieldError('model')}>
            {(props) => (
              <>
                <TextInput
                  {...props}
                  list="bot-models"
                  value={values.model}
                  onChange={(e) => set('model', e.target.value)}
                />
                <datalist id="bot-models">
                  {(provider?.models ?? []).map((m) => (
                    <option key={m} value={m} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
        </div>
        <ScheduleHelper
          schedule={values.schedule ?? ''}
          timezone={values.timezone}
          onSchedule={(s) => set('schedule', s)}
          onTimezone={(z) => set('timezone', z)}
          error={fieldError('schedule') ?? fieldError('timezone')}
        />
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            checked={values.enabled}
            onChange={(e) => set('enabled', e.target.checked)}
            className="h-4 w-4"
          />
          {t('bot.enabled')}
        </label>
        <fieldset>
          <legend className="text-sm font-medium">{t('bot.tools')}</legend>
          <p className="text-xs text-slate-600 dark:text-slate-400">{t('bot.toolsHint')}</p>
          <ul className="mt-2 space-y-2" data-testid="tool-picker">
            {(toolSets.data?.items ?? []).map((toolSet) => (
              <li key={toolSet.name}>
                <label className="flex items-start gap-2 text-sm">
                  <input
                    type="checkbox"
                    className="mt-0.5 h-4 w-4"
                    checked={values.tools.includes(toolSet.name)}
                    onChange={(e) =>
                      set(
                        'tools',
                        e.target.checked
                          ? [...values.tools, toolSet.name]
                          : values.tools.filter((n) => n !== toolSet.name),
                      )
                    }
                  />
                  <span className="min-w-0">
                    <span className="font-mono break-all">{toolSet.name}</span> — {toolSet.description}
                    <span className="block text-xs break-words text-slate-600 dark:text-slate-400">
                      {toolSet.functions.map((fn) => fn.name).join(', ')}
                    </span>
                    {toolSet.needsApproval.length > 0 && (
                      <span className="block text-xs text-amber-900 dark:text-amber-200">
                        <span aria-hidden="true">✋ </span>
                        {toolSet.functions.length > 0 &&
                        toolSet.functions.every((fn) => toolSet.needsApproval.includes(fn.name))
                          ? t('bot.toolsAllNeedApproval')
                          : t('bot.toolsNeedApproval', { names: toolSet.needsApproval.join(', ') })}
                      </span>
                    )}
                  </span>
                </label>
                {!toolSet.configured && (
                  <p className="ml-6 text-xs">
                    {t('bot.toolsNeedsSetUp')}{' '}
                    {toolSet.name === 'search' && (
                      <Link href="/providers#tools" className="underline">
                        {t('bot.toolsSetUpSearch')}
                      </Link>
                    )}
                    {toolSet.name.startsWith('mcp:') && (
                      <Link href="/mcp-servers" className="underline">
                        {t('bot.toolsSetUpMcp')}
                      </Link>
                    )}
                  </p>
                )}
              </li>
            ))}
          </ul>
          {fieldError('tools') && (
            <p className="mt-1 text-sm text-red-700 dark:text-red-300">{fieldError('tools')}</p>
          )}
        </fieldset>
        <FallbacksEditor
          provider={values.provider}
          configured={configured}
          value={values.fallbacks}
          onChange={(next) => set('fallbacks', next)}
          errors={fieldErrors}
        />
        <OnCompleteEditor
          botId={botId}
          value={values.onComplete}
          onChange={(next) => set('onComplete', next)}
          errors={fieldErrors}
        />
        <details>
          <summary className="cursor-pointer text-sm font-medium">{t('bot.limits')}</summary>
          <div className="mt-3 grid gap-4 sm:grid-cols-2">
            <Field label={t('bot.maxRuntime')} error={fieldError('maxRuntimeSeconds')}>
              {(props) => (
                <TextInput
                  {...props}
                  type="number"
                  min={1}
                  value={values.maxRuntimeSeconds}
                  onChange={(e) => set('maxRuntimeSeconds', Number(e.target.value))}
                />
              )}
            </Field>
            <Field label={t('bot.maxRetries')} error={fieldError('maxRetries')}>
              {(props) => (
                <TextInput
                  {...props}
                  type="number"
                  min={0}
                  max={10}
                  value={values.maxRetries}
                  onChange={(e) => set('maxRetries', Number(e.target.value))}
                />
              )}
            </Field>
            <Field
              label={t('bot.dailyBudget')}
              hint={t('bot.dailyBudgetHint')}
              error={fieldError('dailyBudgetUsd')}
            >
              {(props) => (
                <TextInput
                  {...props}
                  type="number"
                  min={0}
                  step="0.01"
                  value={values.dailyBudgetUsd ?? ''}
                  onChange={(e) => set('dailyBudgetUsd', numberOrNull(e.target.value))}
                />
              )}
            </Field>
            <Field label={t('bot.maxCostPerRun')} error={fieldError('maxCostPerRunUsd')}>
              {(props) => (
                <TextInput
                  {...props}
                  type="number"
                  min={0}
                  step="0.01"
                  value={values.maxCostPerRunUsd ?? ''}
                  onChange={(e) => set('maxCostPerRunUsd', numberOrNull(e.target.value))}
                />
              )}
            </Field>
          </div>
        </details>
      </Card>
      <ErrorNote error={error} />
      <Button type="submit" variant="primary" busy={busy}>
        {submitLabel}
      </Button>
    </form>
  )
}
