import type { Bot, Provider } from '@openorch/contracts'
import { useId } from 'react'
import {
  errorsUnder,
  type Fallback,
  maxFallbacks,
  maxOnComplete,
  moveItem,
  newOnComplete,
  type OnComplete,
  startOf,
  type TargetKind,
  targetOf,
} from '../lib/bot-form-fields.ts'
import { useBotOptions } from '../lib/bot-options.ts'
import { providerCatalog } from '../lib/catalog.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import { usePipelineOptions } from '../lib/pipeline-options.ts'
import { Link } from '../lib/router.tsx'
import { Button, Field, Select, TextInput } from './ui.tsx'

// The bot's chain settings: fallback models (tried in order while its provider's circuit is open,
// decision 0034) and what starts when one of its runs completes (onComplete). Editors for the bot
// form, and a read-only summary for the bot's page.

const whenOptions = ['always', 'on_new', 'on_results'] as const
const labelOfProvider = (name: string) => providerCatalog.find((p) => p.name === name)?.label ?? name

function ErrorText({ id, error }: { id?: string; error: string | undefined }) {
  if (!error) return null
  return (
    <p id={id} className="text-sm text-red-700 dark:text-red-300">
      {error}
    </p>
  )
}

/** Focuses the element with this id once React has drawn the moved row. */
function focusSoon(id: string) {
  requestAnimationFrame(() => document.getElementById(id)?.focus())
}

export function FallbacksEditor({
  provider,
  configured,
  value,
  onChange,
  errors,
}: {
  /** The bot's own provider: the one whose outage the fallbacks cover. */
  provider: string
  configured: readonly Provider[]
  value: readonly Fallback[]
  onChange: (next: Fallback[]) => void
  errors: ReadonlyMap<string, string>
}) {
  const { t } = useI18n()
  const uid = useId()
  const listError = errors.get('fallbacks')
  const add = () => {
    const next = configured.find((p) => p.name !== provider) ?? configured[0]
    onChange([
      ...value,
      {
        provider: next?.name ?? (provider as Fallback['provider']),
        model: next?.defaultModel ?? next?.models[0] ?? '',
      },
    ])
  }
  const move = (from: number, to: number, direction: 'up' | 'down') => {
    onChange(moveItem(value, from, to))
    // The moved row keeps the focus; at an end its other button takes it.
    const atEnd = direction === 'up' ? to === 0 : to === value.length - 1
    focusSoon(`${uid}-${atEnd ? (direction === 'up' ? 'down' : 'up') : direction}-${to}`)
  }
  return (
    <fieldset className="space-y-3" data-testid="fallbacks" aria-describedby={`${uid}-hint`}>
      <legend className="text-sm font-medium">{t('bot.fallbacks')}</legend>
      <p id={`${uid}-hint`} className="text-xs text-slate-600 dark:text-slate-400">
        {t('bot.fallbacksHint', { provider: labelOfProvider(provider) })}
      </p>
      <ol className="space-y-3">
        {value.map((fallback, index) => {
          const models = configured.find((p) => p.name === fallback.provider)?.models ?? []
          const rowError = errors.get(`fallbacks[${index}]`)
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: a row is its position; moving it moves its values
            <li key={index} data-testid="fallback-row">
              <fieldset className="rounded-md border border-slate-200 p-3 dark:border-slate-700">
                <legend className="px-1 text-sm font-medium">{t('bot.fallbackRow', { n: index + 1 })}</legend>
                <div className="grid gap-3 sm:grid-cols-[1fr_1fr_auto] sm:items-end">
                  <Field label={t('bot.provider')} error={errors.get(`fallbacks[${index}].provider`)}>
                    {(props) => (
                      <Select
                        {...props}
                        value={fallback.provider}
                        onChange={(e) => {
                          const chosen = configured.find((p) => p.name === e.target.value)
                          onChange(
                            value.map((f, i) =>
                              i === index
                                ? {
                                    provider: e.target.value as Fallback['provider'],
                                    model: chosen?.defaultModel ?? chosen?.models[0] ?? f.model,
                                  }
                                : f,
                            ),
                          )
                        }}
                      >
                        {providerCatalog.map((p) => {
                          const isConfigured = configured.some((c) => c.name === p.name)
                          return (
                            <option key={p.name} value={p.name} disabled={!isConfigured}>
                              {p.label}
                              {isConfigured ? '' : ` (${t('bot.notSetUp')})`}
                            </option>
                          )
                        })}
                      </Select>
                    )}
                  </Field>
                  <Field label={t('bot.model')} error={errors.get(`fallbacks[${index}].model`)}>
                    {(props) => (
                      <>
                        <TextInput
                          {...props}
                          list={`${uid}-models-${index}`}
                          value={fallback.model}
                          onChange={(e) =>
                            onChange(value.map((f, i) => (i === index ? { ...f, model: e.target.value } : f)))
                          }
                        />
                        <datalist id={`${uid}-models-${index}`}>
                          {models.map((m) => (
                            <option key={m} value={m} />
                          ))}
                        </datalist>
                      </>
                    )}
                  </Field>
                  <div className="flex flex-wrap gap-1">
                    <Button
                      id={`${uid}-up-${index}`}
                      variant="ghost"
                      className="px-2 py-1"
                      disabled={index === 0}
                      aria-label={t('bot.fallbackUp', { n: index + 1 })}
                      onClick={() => move(index, index - 1, 'up')}
                    >
                      <span aria-hidden="true">↑</span> {t('pipeline.step.up')}
                    </Button>
                    <Button
                      id={`${uid}-down-${index}`}
                      variant="ghost"
                      className="px-2 py-1"
                      disabled={index === value.length - 1}
                      aria-label={t('bot.fallbackDown', { n: index + 1 })}
                      onClick={() => move(index, index + 1, 'down')}
                    >
                      <span aria-hidden="true">↓</span> {t('pipeline.step.down')}
                    </Button>
                    <Button
                      variant="ghost"
                      className="px-2 py-1 text-red-800 dark:text-red-300"
                      aria-label={t('bot.fallbackRemove', { n: index + 1 })}
                      onClick={() => {
                        onChange(value.filter((_, i) => i !== index))
                        focusSoon(`${uid}-add`)
                      }}
                    >
                      {t('pipeline.step.removeShort')}
                    </Button>
                  </div>
                </div>
                <ErrorText error={rowError} />
              </fieldset>
            </li>
          )
        })}
      </ol>
      <ErrorText error={listError} />
      {value.length < maxFallbacks ? (
        <Button id={`${uid}-add`} onClick={add} disabled={configured.length === 0}>
          {t('bot.fallbackAdd')}
        </Button>
      ) : (
        <p className="text-xs text-slate-600 dark:text-slate-400">
          {t('bot.fallbackMax', { max: maxFallbacks })}
        </p>
      )}
    </fieldset>
  )
}

export function OnCompleteEditor({
  botId,
  value,
  onChange,
  errors,
}: {
  /** The bot being edited (it cannot start itself); undefined for a new bot. */
  botId?: string | undefined
  value: readonly OnComplete[]
  onChange: (next: OnComplete[]) => void
  errors: ReadonlyMap<string, string>
}) {
  const { t } = useI18n()
  const uid = useId()
  const bots = useBotOptions().bots.filter((bot) => bot.id !== botId)
  const pipelines = usePipelineOptions().pipelines
  const choices: Record<TargetKind, { id: string; name: string }[]> = {
    bot: bots.map((bot) => ({ id: bot.id, name: `${bot.emoji ? `${bot.emoji} ` : ''}${bot.name}` })),
    pipeline: pipelines.map((p) => ({ id: p.id, name: `${p.emoji ? `${p.emoji} ` : ''}${p.name}` })),
  }
  const update = (index: number, change: Partial<OnComplete>) =>
    onChange(value.map((rule, i) => (i === index ? { ...rule, ...change } : rule)))
  return (
    <fieldset className="space-y-3" data-testid="on-complete" aria-describedby={`${uid}-hint`}>
      <legend className="text-sm font-medium">{t('bot.onComplete')}</legend>
      <p id={`${uid}-hint`} className="text-xs text-slate-600 dark:text-slate-400">
        {t('bot.onCompleteHint')}
      </p>
      <ol className="space-y-3">
        {value.map((rule, index) => {
          const target = targetOf(rule)
          const options = choices[target.kind]
          const known = options.some((o) => o.id === target.id)
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: a row is its position
            <li key={index} data-testid="on-complete-row">
              <fieldset className="rounded-md border border-slate-200 p-3 dark:border-slate-700">
                <legend className="px-1 text-sm font-medium">
                  {t('bot.onCompleteRow', { n: index + 1 })}
                </legend>
                <div className="grid gap-3 sm:grid-cols-3">
                  <Field label={t('bot.onCompleteKind')}>
                    {(props) => (
                      <Select
                        {...props}
                        value={target.kind}
                        onChange={(e) => {
                          const kind = e.target.value as TargetKind
                          update(index, { start: startOf(kind, choices[kind][0]?.id ?? '') })
                        }}
                      >
                        <option value="bot">{t('bot.onCompleteKind.bot')}</option>
                        <option value="pipeline">{t('bot.onCompleteKind.pipeline')}</option>
                      </Select>
                    )}
                  </Field>
                  <Field
                    label={target.kind === 'bot' ? t('bot.onCompleteBot') : t('bot.onCompletePipeline')}
                    error={errorsUnder(errors, `onComplete[${index}].start`)}
                  >
                    {(props) => (
                      <Select
                        {...props}
                        value={target.id}
                        onChange={(e) => update(index, { start: startOf(target.kind, e.target.value) })}
                      >
                        {!known && (
                          <option value={target.id}>
                            {target.id
                              ? t('bot.onCompleteUnknown', { id: target.id })
                              : t('bot.onCompleteNoneToChoose')}
                          </option>
                        )}
                        {options.map((o) => (
                          <option key={o.id} value={o.id}>
                            {o.name}
                          </option>
                        ))}
                      </Select>
                    )}
                  </Field>
                  <Field label={t('bot.onCompleteWhen')} error={errors.get(`onComplete[${index}].when`)}>
                    {(props) => (
                      <Select
                        {...props}
                        value={rule.when}
                        onChange={(e) => update(index, { when: e.target.value as OnComplete['when'] })}
                      >
                        {whenOptions.map((when) => (
                          <option key={when} value={when}>
                            {t(`bot.onCompleteWhen.${when}` as MessageKey)}
                          </option>
                        ))}
                      </Select>
                    )}
                  </Field>
                </div>
                <div className="mt-3 flex flex-wrap items-center gap-3">
                  <label className="flex items-center gap-2 text-sm">
                    <input
                      type="checkbox"
                      className="h-4 w-4"
                      checked={rule.passOutput}
                      onChange={(e) => update(index, { passOutput: e.target.checked })}
                    />
                    {t('bot.onCompletePassOutput')}
                  </label>
                  <Button
                    variant="ghost"
                    className="ml-auto px-2 py-1 text-red-800 dark:text-red-300"
                    aria-label={t('bot.onCompleteRemove', { n: index + 1 })}
                    onClick={() => {
                      onChange(value.filter((_, i) => i !== index))
                      focusSoon(`${uid}-add`)
                    }}
                  >
                    {t('pipeline.step.removeShort')}
                  </Button>
                </div>
                <ErrorText
                  error={[errors.get(`onComplete[${index}]`), errors.get(`onComplete[${index}].passOutput`)]
                    .filter(Boolean)
                    .join(' ')}
                />
              </fieldset>
            </li>
          )
        })}
      </ol>
      <ErrorText error={errors.get('onComplete')} />
      {value.length < maxOnComplete ? (
        <Button
          id={`${uid}-add`}
          onClick={() =>
            onChange([
              ...value,
              newOnComplete(
                choices.bot.map((o) => o.id),
                choices.pipeline.map((o) => o.id),
              ),
            ])
          }
        >
          {t('bot.onCompleteAdd')}
        </Button>
      ) : (
        <p className="text-xs text-slate-600 dark:text-slate-400">
          {t('bot.onCompleteMax', { max: maxOnComplete })}
        </p>
      )}
    </fieldset>
  )
}

/** The bot's fallbacks and follow-ups as its page shows them (read-only, linked by name). */
export function BotChainSummary({ bot }: { bot: Bot }) {
  const { t } = useI18n()
  return (
    <dl className="mt-3 grid grid-cols-1 gap-3 text-sm sm:grid-cols-2" data-testid="bot-chain">
      <div>
        <dt className="text-slate-600 dark:text-slate-400">{t('bot.fallbacks')}</dt>
        <dd>
          {bot.fallbacks.length === 0 ? (
            t('bot.fallbacksNone')
          ) : (
            <ol className="list-decimal pl-5">
              {bot.fallbacks.map((fallback, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: the order is the meaning
                <li key={index}>
                  {labelOfProvider(fallback.provider)} · {fallback.model}
                </li>
              ))}
            </ol>
          )}
        </dd>
      </div>
      <div>
        <dt className="text-slate-600 dark:text-slate-400">{t('bot.onComplete')}</dt>
        <dd>
          {bot.onComplete.length === 0 ? t('bot.onCompleteNone') : <FollowUpList rules={bot.onComplete} />}
        </dd>
      </div>
    </dl>
  )
}

/** Its own component: the names of bots and pipelines are fetched only for a bot that has follow-ups. */
function FollowUpList({ rules }: { rules: readonly OnComplete[] }) {
  const { t } = useI18n()
  const botOptions = useBotOptions()
  const pipelineOptions = usePipelineOptions()
  return (
    <ul className="space-y-1">
      {rules.map((rule, index) => {
        const target = targetOf(rule)
        const name =
          target.kind === 'bot'
            ? botOptions.byId.get(target.id)?.name
            : pipelineOptions.byId.get(target.id)?.name
        const href = `/${target.kind === 'bot' ? 'bots' : 'pipelines'}/${encodeURIComponent(target.id)}`
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rules have no id of their own
          <li key={index}>
            <span aria-hidden="true">▶ </span>
            {target.kind === 'bot' ? t('bot.onCompleteBot') : t('bot.onCompletePipeline')}{' '}
            <Link href={href} className="underline">
              {name ?? target.id}
            </Link>
            {' — '}
            {t(`bot.onCompleteWhen.${rule.when}` as MessageKey)},{' '}
            {rule.passOutput ? t('bot.onCompleteWithOutput') : t('bot.onCompleteWithoutOutput')}
          </li>
        )
      })}
    </ul>
  )
}
