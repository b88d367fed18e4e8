import { useQuery } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { useClient } from '../lib/api.tsx'
import { formatDateTime } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { scheduleInWords } from '../lib/schedule-words.ts'
import { ErrorNote, Field, Select, TextInput } from './ui.tsx'

// The cron helper: presets, the schedule in words, and the next five fire times in the bot's time
// zone as the server computes them (the same parser the scheduler uses).

const presets = ['', '*/15 * * * *', '@hourly', '0 8 * * *', '0 8 * * 1-5', '0 9 * * 1', '0 7 1 * *']

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value)
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms)
    return () => clearTimeout(timer)
  }, [value, ms])
  return debounced
}

export function ScheduleHelper({
  schedule,
  timezone,
  onSchedule,
  onTimezone,
  error,
}: {
  schedule: string
  timezone: string
  onSchedule: (value: string) => void
  onTimezone: (value: string) => void
  error?: string | undefined
}) {
  const { t, lang } = useI18n()
  const client = useClient()
  const text = useDebounced(schedule.trim(), 300)
  const zone = useDebounced(timezone.trim(), 300)
  const preview = useQuery({
    queryKey: ['schedule-preview', text, zone],
    queryFn: () => client.schedules.preview({ schedule: text, timezone: zone || 'UTC', count: 5 }),
    enabled: text !== '',
    staleTime: 30_000,
  })
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []
  const presetValue = presets.includes(schedule.trim()) ? schedule.trim() : 'custom'

  return (
    <fieldset className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700">
      <legend className="px-1 text-sm font-medium">{t('schedule.legend')}</legend>
      <Field label={t('schedule.preset')}>
        {(props) => (
          <Select
            {...props}
            value={presetValue}
            onChange={(event) => {
              if (event.target.value !== 'custom') onSchedule(event.target.value)
            }}
          >
            {presets.map((p) => (
              <option key={p} value={p}>
                {scheduleInWords(p || null, lang)}
              </option>
            ))}
            <option value="custom">{t('schedule.custom')}</option>
          </Select>
        )}
      </Field>
      <div className="grid gap-3 sm:grid-cols-2">
        <Field label={t('schedule.expression')} hint={t('schedule.expressionHint')} error={error}>
          {(props) => (
            <TextInput
              {...props}
              name="schedule"
              spellCheck={false}
              className="font-mono"
              value={schedule}
              placeholder="0 8 * * 1-5"
              onChange={(event) => onSchedule(event.target.value)}
            />
          )}
        </Field>
        <Field label={t('schedule.timezone')}>
          {(props) => (
            <>
              <TextInput
                {...props}
                list="timezones"
                value={timezone}
                onChange={(event) => onTimezone(event.target.value)}
              />
              <datalist id="timezones">
                {zones.map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </>
          )}
        </Field>
      </div>
      <div aria-live="polite" className="text-sm">
        <p>
          <span className="font-medium">{t('schedule.inWords')}</span>{' '}
          {scheduleInWords(schedule.trim() || null, lang)}
        </p>
        {text !== '' && preview.isSuccess && (
          <div className="mt-2">
            <p className="font-medium">{t('schedule.nextRuns', { zone: preview.data.timezone })}</p>
            <ol className="mt-1 list-inside list-decimal font-mono text-xs" data-testid="next-runs">
              {preview.data.nextRuns.map((at) => (
                <li key={at}>{formatDateTime(at, lang, preview.data.timezone)}</li>
              ))}
            </ol>
          </div>
        )}
        {text !== '' && preview.isError && <ErrorNote error={preview.error} className="mt-2" />}
      </div>
    </fieldset>
  )
}
