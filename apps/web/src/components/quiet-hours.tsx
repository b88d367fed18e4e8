import {
  type Channel,
  channelEventTypes,
  type NotificationSettings,
  type QuietHours,
} from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useMemo, useState } from 'react'
import { useSignedIn } from '../lib/api.tsx'
import { type ChannelEventType, channelsApi } from '../lib/channels-api.ts'
import { type Translate, useI18n } from '../lib/i18n.tsx'
import { holdsNothing, isClockTime, quietHoursInWords, timeZoneChoices } from '../lib/quiet-hours.ts'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { browserTimeZone } from './bot-form.tsx'
import { Button, Card, ErrorNote, Field, Loading, Select, TextInput } from './ui.tsx'

// Quiet hours (issue 14) on the Channels page: the workspace's (admins change them, everyone reads
// them) with the system events that are urgent enough to come through anyway, and a channel's own in
// its edit view. Each says in one sentence what will happen, as the person types.

export const notificationSettingsKey = ['notification-settings'] as const

/** The workspace's quiet hours and urgent events, shared by the section and every channel's sentence. */
export function useNotificationSettings() {
  const api = channelsApi(useSignedIn())
  return useQuery({ queryKey: notificationSettingsKey, queryFn: () => api.settings() })
}

const defaultHours = (): QuietHours => ({ start: '23:00', end: '07:00', timezone: browserTimeZone() })

/** From, until and the time zone (the browser's unless chosen). */
function QuietHoursFields({
  hours,
  onChange,
  showErrors,
}: {
  hours: QuietHours
  onChange: (hours: QuietHours) => void
  showErrors: boolean
}) {
  const { t } = useI18n()
  const zones = useMemo(() => timeZoneChoices(hours.timezone), [hours.timezone])
  const timeError = (value: string) =>
    showErrors && !isClockTime(value) ? t('channels.quiet.badTime') : undefined
  return (
    <div className="grid gap-3 sm:grid-cols-3">
      <Field label={t('channels.quiet.start')} error={timeError(hours.start)}>
        {(props) => (
          <TextInput
            {...props}
            type="time"
            required
            value={hours.start}
            onChange={(e) => onChange({ ...hours, start: e.target.value })}
          />
        )}
      </Field>
      <Field label={t('channels.quiet.end')} error={timeError(hours.end)}>
        {(props) => (
          <TextInput
            {...props}
            type="time"
            required
            value={hours.end}
            onChange={(e) => onChange({ ...hours, end: e.target.value })}
          />
        )}
      </Field>
      <Field label={t('channels.quiet.timezone')}>
        {(props) => (
          <Select
            {...props}
            value={hours.timezone}
            onChange={(e) => onChange({ ...hours, timezone: e.target.value })}
          >
            {zones.map((zone) => (
              <option key={zone} value={zone}>
                {zone}
              </option>
            ))}
          </Select>
        )}
      </Field>
    </div>
  )
}

/** The sentence, announced politely as it changes. */
function Sentence({ text }: { text: string }) {
  return (
    <p
      aria-live="polite"
      className="rounded-md bg-slate-100 p-3 text-sm text-slate-900 dark:bg-slate-900 dark:text-slate-100"
      data-testid="quiet-hours-sentence"
    >
      <span aria-hidden="true">🌙</span> {text}
    </p>
  )
}

/** The workspace's quiet hours and urgent events: a section of the Channels page. */
export function WorkspaceQuietHours() {
  const { t } = useI18n()
  const headingId = useId()
  const settings = useNotificationSettings()
  return (
    <Card>
      <section aria-labelledby={headingId} className="space-y-3" data-testid="workspace-quiet-hours">
        <h2 id={headingId} className="text-lg font-semibold">
          {t('channels.quiet.title')}
        </h2>
        <p className="max-w-3xl text-sm text-slate-700 dark:text-slate-300">{t('channels.quiet.intro')}</p>
        <ErrorNote error={settings.error} />
        {settings.isLoading && <Loading />}
        {settings.data && <SettingsForm initial={settings.data} />}
      </section>
    </Card>
  )
}

function SettingsForm({ initial }: { initial: NotificationSettings }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const canAdmin = mayOffer(useMyRole(), 'admin')
  const enabledId = useId()
  const [enabled, setEnabled] = useState(initial.quietHours !== null)
  const [hours, setHours] = useState<QuietHours>(initial.quietHours ?? defaultHours())
  const [urgent, setUrgent] = useState<ChannelEventType[]>(initial.urgentEvents)
  const [showErrors, setShowErrors] = useState(false)
  const [saved, setSaved] = useState(false)
  const save = useMutation({
    mutationFn: (settings: NotificationSettings) => api.putSettings(settings),
    onMutate: () => setSaved(false),
    onSuccess: (answer) => {
      setSaved(true)
      queryClient.setQueryData(notificationSettingsKey, answer)
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setShowErrors(true)
    if (enabled && !(isClockTime(hours.start) && isClockTime(hours.end))) return
    save.mutate({ quietHours: enabled ? hours : null, urgentEvents: urgent })
  }
  const change =
    <T,>(set: (value: T) => void) =>
    (value: T) => {
      setSaved(false)
      set(value)
    }
  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      {/* Everyone reads the settings; only admins change them (the server says so too). */}
      <fieldset disabled={!canAdmin} className="space-y-4">
        <legend className="sr-only">{t('channels.quiet.title')}</legend>
        {!canAdmin && <p className="text-sm">{t('channels.quiet.adminsOnly')}</p>}
        <div className="flex items-center gap-2">
          <input
            id={enabledId}
            type="checkbox"
            className="h-4 w-4"
            checked={enabled}
            onChange={(e) => change(setEnabled)(e.target.checked)}
          />
          <label htmlFor={enabledId} className="text-sm font-medium">
            {t('channels.quiet.enabled')}
          </label>
        </div>
        {enabled && <QuietHoursFields hours={hours} onChange={change(setHours)} showErrors={showErrors} />}
        <Sentence text={quietHoursInWords(enabled ? hours : null, urgent.length > 0, t)} />
        <fieldset className="space-y-2">
          <legend className="text-sm font-medium">{t('channels.quiet.urgent')}</legend>
          <p className="text-xs text-slate-600 dark:text-slate-400">{t('channels.quiet.urgentHint')}</p>
          <ul className="grid gap-1 sm:grid-cols-2">
            {channelEventTypes.map((type) => (
              <li key={type}>
                <label className="flex items-start gap-2 text-sm">
                  <input
                    type="checkbox"
                    className="mt-0.5 h-4 w-4"
                    checked={urgent.includes(type)}
                    onChange={(e) =>
                      change(setUrgent)(
                        e.target.checked ? [...urgent, type] : urgent.filter((x) => x !== type),
                      )
                    }
                  />
                  {t(`channels.event.${type}`)}
                </label>
              </li>
            ))}
          </ul>
        </fieldset>
      </fieldset>
      <ErrorNote error={save.error} />
      {canAdmin && (
        <Button type="submit" variant="primary" busy={save.isPending}>
          {t('channels.quiet.save')}
        </Button>
      )}
      <p role="status" className="text-sm empty:hidden">
        {saved ? t('channels.quiet.saved') : ''}
      </p>
    </form>
  )
}

type Choice = 'workspace' | 'own' | 'never'
const choices: Choice[] = ['workspace', 'own', 'never']

function choiceOf(hours: QuietHours | null): Choice {
  if (!hours) return 'workspace'
  return holdsNothing(hours) ? 'never' : 'own'
}

/** A channel's quiet hours in a few words, for its card. */
export function channelQuietWords(channel: Channel, t: Translate): string {
  const hours = channel.quietHours
  const choice = choiceOf(hours)
  if (choice === 'workspace' || !hours) return t('channels.quiet.followsWorkspace')
  if (choice === 'never') return t('channels.quiet.never')
  return t('channels.quiet.window', { start: hours.start, end: hours.end, zone: hours.timezone })
}

/** A channel's own quiet hours (its edit view): like the workspace, its own, or never. */
export function ChannelQuietHours({ channel }: { channel: Channel }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const settings = useNotificationSettings()
  const name = useId()
  const [choice, setChoice] = useState<Choice>(choiceOf(channel.quietHours))
  const [hours, setHours] = useState<QuietHours>(
    channel.quietHours && !holdsNothing(channel.quietHours)
      ? channel.quietHours
      : (settings.data?.quietHours ?? defaultHours()),
  )
  const [showErrors, setShowErrors] = useState(false)
  const [saved, setSaved] = useState(false)
  const save = useMutation({
    mutationFn: (quietHours: QuietHours | null) => api.setQuietHours(channel.id, quietHours),
    onMutate: () => setSaved(false),
    onSuccess: () => {
      setSaved(true)
      void queryClient.invalidateQueries({ queryKey: ['channels'] })
    },
  })
  const hasUrgent = (settings.data?.urgentEvents.length ?? 0) > 0
  const sentence =
    choice === 'workspace'
      ? quietHoursInWords(settings.data?.quietHours ?? null, hasUrgent, t)
      : choice === 'never'
        ? t('channels.quiet.none')
        : quietHoursInWords(hours, hasUrgent, t)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setShowErrors(true)
    if (choice === 'own' && !(isClockTime(hours.start) && isClockTime(hours.end))) return
    // "Never" is a window that starts when it ends: the server holds nothing in it.
    save.mutate(
      choice === 'workspace'
        ? null
        : choice === 'never'
          ? { start: '00:00', end: '00:00', timezone: hours.timezone }
          : hours,
    )
  }
  return (
    <form
      onSubmit={submit}
      className="space-y-3 border-t border-slate-200 pt-4 dark:border-slate-700"
      noValidate
      data-testid="channel-quiet-hours"
    >
      <fieldset className="space-y-2">
        <legend className="text-sm font-medium">
          {t('channels.quiet.channelLegend', { name: channel.name })}
        </legend>
        {choices.map((value) => (
          <label key={value} className="flex items-center gap-2 text-sm">
            <input
              type="radio"
              name={name}
              className="h-4 w-4"
              value={value}
              checked={choice === value}
              onChange={() => {
                setSaved(false)
                setChoice(value)
              }}
            />
            {t(`channels.quiet.choice.${value}`)}
          </label>
        ))}
      </fieldset>
      {choice === 'own' && (
        <QuietHoursFields
          hours={hours}
          onChange={(next) => {
            setSaved(false)
            setHours(next)
          }}
          showErrors={showErrors}
        />
      )}
      <Sentence text={sentence} />
      <ErrorNote error={save.error} />
      <Button
        type="submit"
        className="px-2 py-1"
        busy={save.isPending}
        aria-label={t('channels.quiet.saveChannel', { name: channel.name })}
      >
        {t('channels.quiet.save')}
      </Button>
      <p role="status" className="text-sm empty:hidden">
        {saved ? t('channels.quiet.saved') : ''}
      </p>
    </form>
  )
}
