import { useQuery } from '@tanstack/react-query'
import { useClient } from '../lib/api.tsx'
import { formatNumber, formatUsd } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Card } from './ui.tsx'

// The workspace's limits (GET /quotas, decision 0019) as bars where a share is the point — bots
// used, today's spend against the daily budget — and the fixed limits as one line of text.

function Meter({
  label,
  used,
  limit,
  display,
}: {
  label: string
  used: number
  limit: number
  display: string
}) {
  const share = limit > 0 ? Math.min(1, used / limit) : 1
  const colour = share >= 1 ? 'bg-red-600' : share >= 0.8 ? 'bg-amber-500' : 'bg-emerald-600'
  return (
    <div>
      <div className="flex justify-between gap-2 text-sm">
        <span>{label}</span>
        <span className="tabular-nums text-slate-700 dark:text-slate-300">{display}</span>
      </div>
      {/* The native meter speaks to assistive technology; the bar beside it is what eyes see. */}
      <meter className="sr-only" aria-label={label} min={0} max={limit} value={Math.min(used, limit)}>
        {display}
      </meter>
      <div
        aria-hidden="true"
        className="mt-1 h-2 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700"
      >
        <div className={`h-full ${colour}`} style={{ width: `${share * 100}%` }} />
      </div>
    </div>
  )
}

export function QuotasCard() {
  const { t, lang } = useI18n()
  const client = useClient()
  const quotas = useQuery({ queryKey: ['quotas'], queryFn: () => client.quotas() })
  if (!quotas.data) return null
  const q = quotas.data
  const budget = q.dailyBudget
  const kib = (bytes: number) => `${formatNumber(Math.round(bytes / 1024), lang)} KiB`
  return (
    <Card className="space-y-3">
      <h2 className="text-lg font-semibold">{t('quotas.title')}</h2>
      <div className="grid gap-4 sm:grid-cols-2">
        <Meter
          label={t('quotas.bots')}
          used={q.bots.used}
          limit={q.bots.limit}
          display={`${formatNumber(q.bots.used, lang)} / ${formatNumber(q.bots.limit, lang)}`}
        />
        {budget.limitUsd === null ? (
          <p className="text-sm">{t('quotas.noBudget', { spent: formatUsd(budget.spentTodayUsd, lang) })}</p>
        ) : (
          <Meter
            label={t('quotas.budget')}
            used={budget.spentTodayUsd}
            limit={budget.limitUsd}
            display={`${formatUsd(budget.spentTodayUsd, lang)} / ${formatUsd(budget.limitUsd, lang)}`}
          />
        )}
      </div>
      <p className="text-sm text-slate-700 dark:text-slate-300">
        {t('quotas.others', {
          notes: formatNumber(q.notesPerBot, lang),
          noteSize: kib(q.noteBytesPerBot),
          input: kib(q.inputBytes),
          seconds: formatNumber(q.minScheduleSeconds, lang),
        })}
      </p>
    </Card>
  )
}
