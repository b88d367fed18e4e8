import { type Channel, channelEventTypes, type Notification, notificationStatuses } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useEffect, useId, useRef, useState } from 'react'
import { ConfirmButton } from '../components/confirm.tsx'
import { ChannelQuietHours, channelQuietWords, WorkspaceQuietHours } from '../components/quiet-hours.tsx'
import { TelegramInboundPanel } from '../components/telegram-inbound.tsx'
import {
  Button,
  Card,
  cx,
  Empty,
  ErrorNote,
  Field,
  Loading,
  PageTitle,
  Select,
  TextInput,
} from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import {
  type ChannelField,
  type ChannelFormValues,
  type ChannelSpec,
  channelSpecs,
  configOf,
  emptyChannelForm,
  formFieldOf,
  formOfChannel,
  specOf,
} from '../lib/channel-form.ts'
import {
  type ChannelEventType,
  type CreatedChannel,
  channelsApi,
  type NotificationStatus,
  type TelegramChat,
  type TestResult,
} from '../lib/channels-api.ts'
import { formatDateTime, formatRelative } from '../lib/format.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Link } from '../lib/router.tsx'

// Channels (issue 14): where the workspace's notifications go. Each card says in words whether the
// channel works (connected, waiting for a first delivery, or the error), when it last delivered, sends
// a test on request, and picks the workspace's system events it gets; its edit view has its settings
// and its quiet hours, and a Telegram channel shows how commands reach it and the chats linked. A
// guided set-up per type adds one; a webhook's signing secret is shown once. Then the workspace's
// quiet hours, and the delivery history with a retry for dead ones. A type without a set-up form here
// (a browser's push subscription) is listed, tested, given quiet hours and removed only.

const statusStyles: Record<Channel['status'], string> = {
  connected: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  pending: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  error: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
}
const statusIcons: Record<Channel['status'], string> = { connected: '✅', pending: '🕓', error: '❌' }

const deliveryStyles: Record<NotificationStatus, string> = {
  sent: statusStyles.connected,
  pending: statusStyles.pending,
  held: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
  failed: statusStyles.error,
  dead: statusStyles.error,
}
const deliveryIcons: Record<NotificationStatus, string> = {
  sent: '✅',
  pending: '🕓',
  held: '🌙',
  failed: '⚠️',
  dead: '❌',
}

/** Refusals of this page in its own words. */
const words: Partial<Record<string, MessageKey>> = { egress_refused: 'channels.egressRefused' }

export default function Channels() {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const canEdit = mayOffer(useMyRole(), 'editor')
  const channels = useQuery({ queryKey: ['channels'], queryFn: () => api.list() })
  const items = channels.data?.items ?? []
  return (
    <div className="space-y-6">
      <div>
        <PageTitle>{t('channels.title')}</PageTitle>
        <p className="max-w-3xl text-slate-700 dark:text-slate-300">{t('channels.intro')}</p>
      </div>
      <ErrorNote error={channels.error} />
      {channels.isLoading ? (
        <Loading />
      ) : channels.data && items.length === 0 ? (
        <Empty title={t('channels.empty')}>{t('channels.emptyHint')}</Empty>
      ) : (
        <ul className="space-y-4" aria-label={t('channels.listLabel')}>
          {items.map((channel) => (
            <li key={channel.id}>
              <ChannelCard channel={channel} canEdit={canEdit} />
            </li>
          ))}
        </ul>
      )}
      {canEdit && <AddChannel />}
      <WorkspaceQuietHours />
      <History channels={items} />
    </div>
  )
}

export function ChannelStatus({ status }: { status: Channel['status'] }) {
  const { t } = useI18n()
  return (
    <span
      className={cx(
        'inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium',
        statusStyles[status],
      )}
      data-testid="channel-status"
    >
      <span aria-hidden="true">{statusIcons[status]}</span>
      {t(`channels.status.${status}`)}
    </span>
  )
}

function typeTitle(type: string, t: (key: MessageKey) => string): string {
  const spec = specOf(type)
  return spec ? t(spec.title) : type
}

function ChannelCard({ channel, canEdit }: { channel: Channel; canEdit: boolean }) {
  const { t, lang } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const headingId = useId()
  const spec = specOf(channel.type)
  const [editing, setEditing] = useState(false)
  const [result, setResult] = useState<TestResult | null>(null)
  const test = useMutation({
    mutationFn: () => api.test(channel.id),
    onMutate: () => setResult(null),
    onSuccess: (answer) => {
      setResult(answer)
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
    },
  })
  const remove = useMutation({
    mutationFn: () => api.remove(channel.id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
      void queryClient.invalidateQueries({ queryKey: ['bot-channels'] })
    },
  })
  const settings = Object.entries(channel.config).filter(([, value]) => value !== null && value !== '')
  const secrets = Object.entries(channel.secretHints)
  const fieldLabel = (key: string) => {
    const field = spec?.fields.find((f) => f.key === key)
    if (field) return t(field.label)
    return key === 'signingSecret' ? t('channels.secretLabel') : key
  }

  return (
    <Card>
      <article aria-labelledby={headingId} className="space-y-3" data-testid="channel">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-2">
          <h2 id={headingId} className="text-lg font-semibold break-all">
            <span aria-hidden="true">{spec?.icon ?? '📣'}</span> {channel.name}
          </h2>
          <span className="text-sm text-slate-700 dark:text-slate-300">{typeTitle(channel.type, t)}</span>
          <ChannelStatus status={channel.status} />
          {canEdit && (
            <div className="ml-auto flex flex-wrap gap-2">
              <Button
                className="px-2 py-1"
                busy={test.isPending}
                onClick={() => test.mutate()}
                aria-label={t('channels.testLabel', { name: channel.name })}
              >
                {t('channels.test')}
              </Button>
              <Button
                className="px-2 py-1"
                aria-expanded={editing}
                onClick={() => setEditing((open) => !open)}
                aria-label={t('channels.editLabel', { name: channel.name })}
              >
                {t('channels.edit')}
              </Button>
              <ConfirmButton
                label={t('channels.remove')}
                accessibleLabel={t('channels.removeLabel', { name: channel.name })}
                title={t('channels.removeTitle', { name: channel.name })}
                text={t('channels.removeText')}
                confirmLabel={t('channels.removeConfirm')}
                busy={remove.isPending}
                error={remove.error}
                onConfirm={async () => {
                  try {
                    await remove.mutateAsync()
                    return true
                  } catch {
                    return false
                  }
                }}
              />
            </div>
          )}
        </div>
        {channel.status === 'error' && (
          <p className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-50">
            <span className="font-medium">{t('channels.lastError')}</span>{' '}
            <span className="break-words">{channel.lastError ?? t('channels.noErrorText')}</span>
          </p>
        )}
        {channel.status === 'pending' && <p className="text-sm">{t('channels.pendingHint')}</p>}
        <div aria-live="polite" data-testid="channel-test-result">
          {result && <TestOutcome result={result} name={channel.name} />}
        </div>
        <ErrorNote error={test.error} words={words} />
        <dl className="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
          <div>
            <dt className="inline text-slate-600 dark:text-slate-400">{t('channels.lastDelivery')}: </dt>
            <dd className="inline">
              {channel.lastDeliveredAt ? (
                <time
                  dateTime={channel.lastDeliveredAt}
                  title={formatDateTime(channel.lastDeliveredAt, lang)}
                >
                  {formatRelative(channel.lastDeliveredAt, lang)}
                </time>
              ) : (
                t('channels.never')
              )}
            </dd>
          </div>
          {settings.map(([key, value]) => (
            <div key={key} className="min-w-0">
              <dt className="inline text-slate-600 dark:text-slate-400">{fieldLabel(key)}: </dt>
              <dd className="inline font-mono break-all">
                {Array.isArray(value) ? value.join(', ') : String(value)}
              </dd>
            </div>
          ))}
          <div>
            <dt className="inline text-slate-600 dark:text-slate-400">{t('channels.quiet.channel')}: </dt>
            <dd className="inline">{channelQuietWords(channel, t)}</dd>
          </div>
          {secrets.map(([key, hint]) => (
            <div key={key} className="min-w-0">
              <dt className="inline text-slate-600 dark:text-slate-400">{fieldLabel(key)}: </dt>
              <dd className="inline">
                {t('channels.secretSaved')} <span className="font-mono break-all">{hint}</span>
              </dd>
            </div>
          ))}
        </dl>
        {editing && (
          <div className="space-y-4 rounded-md border border-slate-200 p-3 dark:border-slate-700">
            <h3 className="font-medium">{t('channels.editTitle', { name: channel.name })}</h3>
            {spec && (
              <ChannelForm
                spec={spec}
                channel={channel}
                onSaved={() => {
                  setEditing(false)
                  setResult(null)
                }}
              />
            )}
            <ChannelQuietHours channel={channel} />
          </div>
        )}
        {channel.type === 'telegram' && <TelegramInboundPanel channel={channel} editing={editing} />}
        <EventPicker channel={channel} canEdit={canEdit} />
      </article>
    </Card>
  )
}

function TestOutcome({ result, name }: { result: TestResult; name: string }) {
  const { t } = useI18n()
  return result.delivered ? (
    <p className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-950 dark:border-emerald-700 dark:bg-emerald-950 dark:text-emerald-50">
      <span aria-hidden="true">✅</span> {t('channels.testDelivered', { name })}
    </p>
  ) : (
    <div className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-50">
      <p className="font-medium">
        <span aria-hidden="true">❌</span> {t('channels.testFailed', { name })}
      </p>
      <p className="mt-1 break-words">{result.error?.message}</p>
      {result.error?.code && <p className="mt-1 font-mono text-xs opacity-80">{result.error.code}</p>}
    </div>
  )
}

/** The workspace's system events this channel gets. */
function EventPicker({ channel, canEdit }: { channel: Channel; canEdit: boolean }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const [types, setTypes] = useState<ChannelEventType[]>(channel.eventTypes)
  const [saved, setSaved] = useState(false)
  // biome-ignore lint/correctness/useExhaustiveDependencies: follows the server's list when it changes
  useEffect(() => setTypes(channel.eventTypes), [channel.eventTypes.join()])
  const save = useMutation({
    mutationFn: () => api.setEvents(channel.id, types),
    onMutate: () => setSaved(false),
    onSuccess: () => {
      setSaved(true)
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
    },
  })
  const changed = [...types].sort().join() !== [...channel.eventTypes].sort().join()
  return (
    <fieldset className="space-y-2">
      <legend className="text-sm font-medium">{t('channels.events')}</legend>
      <p className="text-xs text-slate-600 dark:text-slate-400">{t('channels.eventsHint')}</p>
      <ul className="grid gap-1 sm:grid-cols-2">
        {channelEventTypes.map((type) => (
          <li key={type}>
            <label className="flex items-start gap-2 text-sm">
              <input
                type="checkbox"
                className="mt-0.5 h-4 w-4"
                disabled={!canEdit}
                checked={types.includes(type)}
                onChange={(e) =>
                  setTypes((current) =>
                    e.target.checked ? [...current, type] : current.filter((x) => x !== type),
                  )
                }
              />
              {t(`channels.event.${type}`)}
            </label>
          </li>
        ))}
      </ul>
      <ErrorNote error={save.error} />
      {canEdit && changed && (
        <Button
          className="px-2 py-1"
          busy={save.isPending}
          onClick={() => save.mutate()}
          aria-label={t('channels.saveEventsLabel', { name: channel.name })}
        >
          {t('channels.saveEvents')}
        </Button>
      )}
      <p role="status" className="text-sm empty:hidden">
        {saved && !changed ? t('channels.eventsSaved') : ''}
      </p>
    </fieldset>
  )
}

/** Adding a channel: pick a type, follow its steps, fill its fields; then a test, and a secret once. */
function AddChannel() {
  const { t } = useI18n()
  const headingId = useId()
  const [type, setType] = useState<string>('')
  const [created, setCreated] = useState<CreatedChannel | null>(null)
  const spec = specOf(type)
  return (
    <Card>
      <section aria-labelledby={headingId} className="space-y-4">
        <h2 id={headingId} className="text-lg font-semibold">
          {t('channels.add')}
        </h2>
        {created ? (
          <Created
            created={created}
            onDone={() => {
              setCreated(null)
              setType('')
            }}
          />
        ) : (
          <>
            <fieldset>
              <legend className="text-sm font-medium">{t('channels.chooseType')}</legend>
              <div className="mt-2 grid gap-2 sm:grid-cols-2 lg:grid-cols-3">
                {channelSpecs.map((s) => (
                  <label
                    key={s.type}
                    className="flex cursor-pointer items-start gap-2 rounded-md border border-slate-300 p-3 text-sm has-[:checked]:border-indigo-600 has-[:checked]:bg-indigo-50 dark:border-slate-600 dark:has-[:checked]:border-indigo-400 dark:has-[:checked]:bg-indigo-950"
                  >
                    <input
                      type="radio"
                      name="channel-type"
                      className="mt-0.5 h-4 w-4"
                      checked={type === s.type}
                      onChange={() => setType(s.type)}
                    />
                    <span>
                      <span className="font-medium">
                        <span aria-hidden="true">{s.icon}</span> {t(s.title)}
                      </span>
                      <span className="block text-slate-700 dark:text-slate-300">{t(s.summary)}</span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
            {spec && (
              <div className="space-y-4" data-testid="channel-setup">
                <ol className="list-inside list-decimal space-y-1 text-sm">
                  {spec.steps.map((step) => (
                    <li key={step}>{t(step)}</li>
                  ))}
                </ol>
                <ChannelForm key={spec.type} spec={spec} onCreated={setCreated} />
              </div>
            )}
          </>
        )}
      </section>
    </Card>
  )
}

/** After adding: a webhook's signing secret, this once; a test message; done. */
function Created({ created, onDone }: { created: CreatedChannel; onDone: () => void }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const heading = useRef<HTMLHeadingElement>(null)
  const [result, setResult] = useState<TestResult | null>(null)
  useEffect(() => heading.current?.focus(), [])
  const test = useMutation({
    mutationFn: () => api.test(created.id),
    onMutate: () => setResult(null),
    onSuccess: (answer) => {
      setResult(answer)
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
    },
  })
  return (
    <div className="space-y-3" data-testid="channel-created">
      <h3 ref={heading} tabIndex={-1} className="font-semibold outline-none">
        {t('channels.created', { name: created.name })}
      </h3>
      {created.secret && <SecretOnce secret={created.secret} />}
      <p className="text-sm">{t('channels.testNow')}</p>
      <div className="flex flex-wrap gap-2">
        <Button busy={test.isPending} onClick={() => test.mutate()}>
          {t('channels.sendTest')}
        </Button>
        <Button variant="primary" onClick={onDone}>
          {t('channels.done')}
        </Button>
      </div>
      <div aria-live="polite" data-testid="channel-created-test">
        {result && <TestOutcome result={result} name={created.name} />}
      </div>
      <ErrorNote error={test.error} words={words} />
    </div>
  )
}

/** The verification snippet of docs/webhooks.md ("Verifying the signature"), kept the same. */
const verifySnippet = `import crypto from 'node:crypto'

// rawBody: the body exactly as received (Buffer or string), before any JSON parsing.
export function verifySignature(secret, timestamp, rawBody, header, toleranceSeconds = 300) {
  if (!/^\\d{1,12}$/.test(timestamp ?? '')) return false
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false
  const expected = crypto.createHmac('sha256', secret).update(\`\${timestamp}.\`).update(rawBody).digest()
  return (header ?? '').split(',').some((part) => {
    const hex = /^\\s*v1=([0-9a-f]{64})\\s*$/i.exec(part)?.[1]
    return hex !== undefined && crypto.timingSafeEqual(Buffer.from(hex, 'hex'), expected)
  })
}`

function SecretOnce({ secret }: { secret: string }) {
  const { t } = useI18n()
  const inputId = useId()
  const [copied, setCopied] = useState('')
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret)
      setCopied(t('channels.copied'))
    } catch {
      setCopied(t('channels.copyFailed'))
    }
  }
  return (
    <div
      className="space-y-3 rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50"
      data-testid="channel-secret"
    >
      <p className="text-sm font-medium">{t('channels.secretOnce')}</p>
      <label htmlFor={inputId} className="block text-sm font-medium">
        {t('channels.secretLabel')}
      </label>
      <div className="flex flex-wrap gap-2">
        <TextInput
          id={inputId}
          readOnly
          value={secret}
          onFocus={(e) => e.target.select()}
          className="min-w-0 flex-1 font-mono"
        />
        <Button onClick={() => void copy()}>{t('channels.copy')}</Button>
      </div>
      <p role="status" className="text-sm empty:hidden">
        {copied}
      </p>
      <p className="text-sm">{t('channels.secretVerify')}</p>
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">{t('channels.snippet')}</summary>
        <pre className="mt-2 overflow-x-auto rounded bg-white p-3 text-xs text-slate-900 dark:bg-slate-900 dark:text-slate-100">
          <code>{verifySnippet}</code>
        </pre>
      </details>
    </div>
  )
}

/** The form of one type: adding (with its presets and helpers) or editing a saved channel. */
function ChannelForm({
  spec,
  channel,
  onCreated,
  onSaved,
}: {
  spec: ChannelSpec
  channel?: Channel
  onCreated?: (created: CreatedChannel) => void
  onSaved?: () => void
}) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const editing = channel !== undefined
  const [form, setForm] = useState<ChannelFormValues>(() =>
    channel ? formOfChannel(spec, channel) : emptyChannelForm(spec),
  )
  const [missing, setMissing] = useState<string[]>([])
  const [preset, setPreset] = useState('')
  const presetId = useId()
  const setValue = (key: string, value: string) =>
    setForm((current) => ({ ...current, values: { ...current.values, [key]: value } }))
  const save = useMutation({
    mutationFn: async (config: Record<string, unknown>) => {
      const name = form.name.trim()
      if (channel) return api.update(channel.id, { name, config })
      return api.create({ type: spec.type, name, config })
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
      void queryClient.invalidateQueries({ queryKey: ['bot-channels'] })
      if (editing) onSaved?.()
      else onCreated?.(saved)
    },
  })
  const refused = new Map<string, string>()
  if (save.error instanceof ApiError)
    for (const e of save.error.problem?.errors ?? []) refused.set(formFieldOf(e.field), e.message)
  const errorOf = (key: string) =>
    missing.includes(key) ? t('channels.required') : (refused.get(key) ?? undefined)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    const made = configOf(spec, form, editing)
    const lacking = [...made.missing, ...(form.name.trim() === '' ? ['name'] : [])]
    setMissing(lacking)
    if (lacking.length > 0) return
    save.mutate(made.config)
  }
  const presetHint = spec.presets?.find((p) => p.id === preset)?.hint
  const plain = spec.fields.filter((f) => !f.advanced)
  const advanced = spec.fields.filter((f) => f.advanced)
  const finder = spec.chatFinder

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <Field
        label={t('channels.name')}
        hint={t('channels.nameHint')}
        error={
          errorOf('name') ??
          (save.error instanceof ApiError && save.error.code === 'channel_exists'
            ? t('error.channel_exists')
            : undefined)
        }
      >
        {(props) => (
          <TextInput
            {...props}
            required
            value={form.name}
            onChange={(e) => setForm((current) => ({ ...current, name: e.target.value }))}
          />
        )}
      </Field>
      {spec.presets && !editing && (
        <div className="space-y-1">
          <label htmlFor={presetId} className="block text-sm font-medium text-slate-800 dark:text-slate-200">
            {t('channels.email.provider')}
          </label>
          <Select
            id={presetId}
            value={preset}
            onChange={(e) => {
              const next = spec.presets?.find((p) => p.id === e.target.value)
              setPreset(e.target.value)
              if (next) setForm((current) => ({ ...current, values: { ...current.values, ...next.values } }))
            }}
          >
            <option value="">{t('channels.email.choose')}</option>
            {spec.presets.map((p) => (
              <option key={p.id} value={p.id}>
                {t(p.label)}
              </option>
            ))}
          </Select>
          {presetHint && <p className="text-xs text-slate-600 dark:text-slate-400">{t(presetHint)}</p>}
        </div>
      )}
      {plain.map((field) => (
        <div key={field.key} className="space-y-2">
          <FieldInput
            field={field}
            form={form}
            setValue={setValue}
            setHeaders={(headers) => setForm((current) => ({ ...current, headers }))}
            error={errorOf(field.key)}
            savedHint={channel?.secretHints[field.key]}
          />
          {finder && finder.chatField === field.key && !editing && (
            <ChatFinder
              token={form.values[finder.tokenField] ?? ''}
              apiBaseUrl={finder.apiBaseUrlField ? form.values[finder.apiBaseUrlField] : undefined}
              chosen={form.values[finder.chatField] ?? ''}
              onChoose={(chatId) => setValue(finder.chatField, chatId)}
            />
          )}
        </div>
      ))}
      {advanced.length > 0 && (
        <details className="space-y-3">
          <summary className="cursor-pointer text-sm font-medium">{t('channels.more')}</summary>
          <div className="mt-3 space-y-4">
            {advanced.map((field) => (
              <FieldInput
                key={field.key}
                field={field}
                form={form}
                setValue={setValue}
                setHeaders={(headers) => setForm((current) => ({ ...current, headers }))}
                error={errorOf(field.key)}
                savedHint={channel?.secretHints[field.key]}
              />
            ))}
          </div>
        </details>
      )}
      <ErrorNote error={save.error} words={words} />
      <div className="flex flex-wrap gap-2">
        <Button type="submit" variant="primary" busy={save.isPending}>
          {editing ? t('channels.save') : t('channels.addSubmit')}
        </Button>
        {editing && <Button onClick={() => onSaved?.()}>{t('common.cancel')}</Button>}
      </div>
    </form>
  )
}

function FieldInput({
  field,
  form,
  setValue,
  setHeaders,
  error,
  savedHint,
}: {
  field: ChannelField
  form: ChannelFormValues
  setValue: (key: string, value: string) => void
  setHeaders: (rows: ChannelFormValues['headers']) => void
  error: string | undefined
  savedHint: string | undefined
}) {
  const { t } = useI18n()
  const label = field.optional ? t('channels.optional', { label: t(field.label) }) : t(field.label)
  const hint = [
    field.hint ? t(field.hint) : '',
    savedHint ? t('channels.keepSecret', { hint: savedHint }) : '',
  ]
    .filter(Boolean)
    .join(' ')
  if (field.kind === 'headers')
    return <HeaderRows legend={label} hint={hint} rows={form.headers} onChange={setHeaders} error={error} />
  const value = form.values[field.key] ?? ''
  return (
    <Field label={label} hint={hint || undefined} error={error}>
      {(props) =>
        field.kind === 'select' ? (
          <Select {...props} value={value} onChange={(e) => setValue(field.key, e.target.value)}>
            {field.options?.map((option) => (
              <option key={option} value={option}>
                {t(`${field.label}.${option}` as MessageKey)}
              </option>
            ))}
          </Select>
        ) : (
          <TextInput
            {...props}
            type={field.kind === 'secret' ? 'password' : field.kind === 'url' ? 'url' : 'text'}
            inputMode={field.kind === 'number' ? 'numeric' : field.kind === 'url' ? 'url' : undefined}
            autoComplete="off"
            spellCheck={false}
            autoCapitalize="off"
            placeholder={field.placeholder}
            value={value}
            onChange={(e) => setValue(field.key, e.target.value)}
          />
        )
      }
    </Field>
  )
}

function HeaderRows({
  legend,
  hint,
  rows,
  onChange,
  error,
}: {
  legend: string
  hint: string
  rows: ChannelFormValues['headers']
  onChange: (rows: ChannelFormValues['headers']) => void
  error: string | undefined
}) {
  const { t } = useI18n()
  const set = (i: number, row: ChannelFormValues['headers'][number]) =>
    onChange(rows.map((r, j) => (j === i ? row : r)))
  return (
    <fieldset className="space-y-2">
      <legend className="text-sm font-medium">{legend}</legend>
      {hint && <p className="text-xs text-slate-600 dark:text-slate-400">{hint}</p>}
      {rows.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div key={i} className="grid grid-cols-[1fr_1fr_auto] gap-2">
          <TextInput
            aria-label={t('channels.headerName', { n: i + 1 })}
            placeholder="Authorization"
            value={row.name}
            spellCheck={false}
            onChange={(e) => set(i, { ...row, name: e.target.value })}
          />
          <TextInput
            aria-label={t('channels.headerValue', { n: i + 1 })}
            type="password"
            autoComplete="off"
            value={row.value}
            onChange={(e) => set(i, { ...row, value: e.target.value })}
          />
          <Button
            variant="ghost"
            className="px-2"
            aria-label={t('channels.headerRemove', { n: i + 1 })}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            ✕
          </Button>
        </div>
      ))}
      {error && <p className="text-sm text-red-700 dark:text-red-300">{error}</p>}
      <Button className="px-2 py-1" onClick={() => onChange([...rows, { name: '', value: '' }])}>
        {t('channels.headerAdd')}
      </Button>
    </fieldset>
  )
}

/** Telegram: asks which chats wrote to the bot, so nobody has to look up a chat id. */
function ChatFinder({
  token,
  apiBaseUrl,
  chosen,
  onChoose,
}: {
  token: string
  apiBaseUrl: string | undefined
  chosen: string
  onChoose: (chatId: string) => void
}) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const [needsToken, setNeedsToken] = useState(false)
  const find = useMutation({
    mutationFn: () => api.discoverTelegramChats(token.trim(), apiBaseUrl?.trim() || undefined),
    onSuccess: (answer) => {
      const only = answer.items.length === 1 ? answer.items[0] : undefined
      if (only) onChoose(String(only.chatId))
    },
  })
  const missingRoute = find.error instanceof ApiError && find.error.status === 404
  const chats: TelegramChat[] = find.data?.items ?? []
  return (
    <div className="space-y-2">
      <Button
        className="px-2 py-1"
        busy={find.isPending}
        onClick={() => {
          setNeedsToken(token.trim() === '')
          if (token.trim() !== '') find.mutate()
        }}
      >
        {t('channels.telegram.find')}
      </Button>
      <div aria-live="polite" className="space-y-2 text-sm">
        {needsToken && <p className="text-red-700 dark:text-red-300">{t('channels.telegram.tokenFirst')}</p>}
        {find.isSuccess && chats.length === 0 && <p>{t('channels.telegram.noChats')}</p>}
        {chats.length > 0 && (
          <fieldset className="space-y-1">
            <legend className="font-medium">{t('channels.telegram.pick')}</legend>
            {chats.map((chat) => (
              <label key={chat.chatId} className="flex items-center gap-2">
                <input
                  type="radio"
                  name="telegram-chat"
                  className="h-4 w-4"
                  checked={chosen === String(chat.chatId)}
                  onChange={() => onChoose(String(chat.chatId))}
                />
                <span>
                  {chat.title}
                  {chat.username ? ` (@${chat.username})` : ''} ·{' '}
                  {t(`channels.telegram.chatType.${chat.type}`)} ·{' '}
                  <span className="font-mono">{chat.chatId}</span>
                </span>
              </label>
            ))}
          </fieldset>
        )}
      </div>
      {missingRoute ? (
        <p className="text-sm text-amber-900 dark:text-amber-200">{t('channels.telegram.finderMissing')}</p>
      ) : (
        <ErrorNote error={find.error} words={words} />
      )}
    </div>
  )
}

const historyPage = 25
/** Events with a name in words; others show their code. */
const knownEvents = new Set<string>(['run.completed', 'run.failed', 'run.timeout', ...channelEventTypes])

/** Every delivery, newest first: its status, attempts and last error; a dead one can be retried. */
function History({ channels }: { channels: Channel[] }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const headingId = useId()
  const statusId = useId()
  const channelId = useId()
  const [status, setStatus] = useState<NotificationStatus | ''>('')
  const [channel, setChannel] = useState('')
  const history = useInfiniteQuery({
    queryKey: ['notifications', status, channel],
    queryFn: ({ pageParam }) =>
      api.notifications({
        limit: historyPage,
        ...(status ? { status } : {}),
        ...(channel ? { channelId: channel } : {}),
        ...(pageParam ? { cursor: pageParam } : {}),
      }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
  const items = history.data?.pages.flatMap((p) => p.items) ?? []
  const names = new Map(channels.map((c) => [c.id, c.name]))
  return (
    <section aria-labelledby={headingId} className="space-y-3">
      <div className="flex flex-wrap items-end gap-3">
        <h2 id={headingId} className="mr-auto text-lg font-semibold">
          {t('channels.history')}
        </h2>
        <div className="space-y-1">
          <label htmlFor={statusId} className="block text-sm font-medium">
            {t('channels.history.status')}
          </label>
          <Select
            id={statusId}
            value={status}
            onChange={(e) => setStatus(e.target.value as NotificationStatus | '')}
          >
            <option value="">{t('channels.history.all')}</option>
            {notificationStatuses.map((s) => (
              <option key={s} value={s}>
                {t(`channels.delivery.${s}`)}
              </option>
            ))}
          </Select>
        </div>
        <div className="space-y-1">
          <label htmlFor={channelId} className="block text-sm font-medium">
            {t('channels.history.channel')}
          </label>
          <Select id={channelId} value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">{t('channels.history.allChannels')}</option>
            {channels.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </Select>
        </div>
        <Button
          busy={history.isFetching && !history.isFetchingNextPage}
          onClick={() => void history.refetch()}
        >
          {t('channels.history.refresh')}
        </Button>
      </div>
      <ErrorNote error={history.error} />
      {history.isLoading && <Loading />}
      {history.isSuccess && items.length === 0 && (
        <Empty title={t('channels.history.empty')}>{t('channels.history.emptyHint')}</Empty>
      )}
      {items.length > 0 && (
        <ul className="space-y-2" data-testid="notifications">
          {items.map((item) => (
            <Delivery key={item.id} item={item} channelName={names.get(item.channelId)} />
          ))}
        </ul>
      )}
      {history.hasNextPage && (
        <Button busy={history.isFetchingNextPage} onClick={() => void history.fetchNextPage()}>
          {t('common.loadMore')}
        </Button>
      )}
    </section>
  )
}

function Delivery({ item, channelName }: { item: Notification; channelName: string | undefined }) {
  const { t, lang } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const retry = useMutation({
    mutationFn: () => api.retry(item.id),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['notifications'] }),
  })
  const eventName = knownEvents.has(item.event)
    ? t(`channels.eventName.${item.event}` as MessageKey)
    : item.event
  return (
    <li className="rounded-md bg-white p-3 text-sm shadow-sm dark:bg-slate-800" data-testid="notification">
      <div className="flex flex-wrap items-center gap-2">
        <time
          dateTime={item.createdAt}
          title={formatDateTime(item.createdAt, lang)}
          className="text-slate-600 dark:text-slate-400"
        >
          {formatRelative(item.createdAt, lang)}
        </time>
        <span
          className={cx(
            'inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium',
            deliveryStyles[item.status],
          )}
          data-testid="notification-status"
        >
          <span aria-hidden="true">{deliveryIcons[item.status]}</span>
          {t(`channels.delivery.${item.status}`)}
        </span>
        <span className="font-medium break-all">{channelName ?? t('channels.history.removed')}</span>
        <span>{eventName}</span>
        <span className="text-slate-600 dark:text-slate-400">
          {t('channels.history.attempts', { n: item.attempts })}
        </span>
        <span className="ml-auto flex flex-wrap items-center gap-3">
          {item.runId && (
            <Link href={`/runs/${encodeURIComponent(item.runId)}`}>{t('channels.history.reported')}</Link>
          )}
          <Link
            href={`/runs/${encodeURIComponent(item.id)}`}
            aria-label={t('channels.history.deliveryLabel', { time: formatDateTime(item.createdAt, lang) })}
          >
            {t('channels.history.delivery')}
          </Link>
          {item.status === 'dead' && (
            <Button className="px-2 py-1" busy={retry.isPending} onClick={() => retry.mutate()}>
              {t('channels.history.retry')}
            </Button>
          )}
        </span>
      </div>
      {item.lastError && (
        <p className="mt-1 break-words text-red-800 dark:text-red-200">
          {item.lastError.message}{' '}
          <span className="font-mono text-xs opacity-80">({item.lastError.code})</span>
        </p>
      )}
      <ErrorNote error={retry.error} className="mt-2" />
    </li>
  )
}
