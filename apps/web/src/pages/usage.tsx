import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { browserTimeZone } from '../components/bot-form.tsx'
import { BarChart } from '../components/charts.tsx'
import { QuotasCard } from '../components/quotas-card.tsx'
import { Button, Card, cx, Empty, ErrorNote, Field, Loading, PageTitle, Select } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { download, toCsv } from '../lib/csv.ts'
import { formatNumber, formatUsd } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'

// Tokens and cost per day, bot, provider or model: a chart with the same numbers in a table beside
// it, and the table as CSV.

type GroupBy = 'day' | 'bot' | 'provider' | 'model'
const groupings: GroupBy[] = ['day', 'bot', 'provider', 'model']

export default function UsagePage() {
  const { t, lang } = useI18n()
  const client = useClient()
  const [groupBy, setGroupBy] = useState<GroupBy>('day')
  const [days, setDays] = useState(30)
  const [metric, setMetric] = useState<'cost' | 'tokens'>('tokens')
  const timezone = browserTimeZone()
  const usage = useQuery({
    queryKey: ['usage', groupBy, days, timezone],
    // The range is the last `days` by this browser's clock, both ends sent, so the chart and the
    // server agree on what "now" is.
    queryFn: () => {
      const now = Date.now()
      return client.usage({
        groupBy,
        timezone,
        from: new Date(now - days * 86_400_000).toISOString(),
        to: new Date(now).toISOString(),
      })
    },
  })
  const rows = usage.data?.items ?? []
  const value = (r: (typeof rows)[number]) => (metric === 'cost' ? r.costUsd : r.tokensIn + r.tokensOut)
  const show = (r: (typeof rows)[number]) =>
    metric === 'cost'
      ? formatUsd(r.costUsd, lang)
      : `${formatNumber(r.tokensIn + r.tokensOut, lang)} ${t('run.tokensShort')}`

  const exportCsv = () =>
    download(
      `usage-${groupBy}.csv`,
      toCsv(
        [groupBy, 'label', 'calls', 'tokensIn', 'tokensOut', 'costUsd', 'unpricedCalls'],
        rows.map((r) => [r.key, r.label, r.calls, r.tokensIn, r.tokensOut, r.costUsd, r.unpricedCalls]),
      ),
      'text/csv;charset=utf-8',
    )

  return (
    <div className="space-y-4">
      <PageTitle
        actions={
          <Button onClick={exportCsv} disabled={rows.length === 0}>
            {t('usage.csv')}
          </Button>
        }
      >
        {t('usage.title')}
      </PageTitle>
      <QuotasCard />
      <div className="flex flex-wrap items-end gap-4">
        <fieldset className="flex flex-wrap gap-1">
          <legend className="sr-only">{t('usage.groupBy')}</legend>
          {groupings.map((g) => (
            <button
              key={g}
              type="button"
              aria-pressed={groupBy === g}
              onClick={() => setGroupBy(g)}
              className={cx(
                'rounded-md border px-3 py-1.5 text-sm',
                groupBy === g
                  ? 'border-indigo-700 bg-indigo-700 text-white dark:border-indigo-300 dark:bg-indigo-400 dark:text-slate-950'
                  : 'border-slate-300 bg-white dark:border-slate-600 dark:bg-slate-800',
              )}
            >
              {t(`usage.by.${g}`)}
            </button>
          ))}
        </fieldset>
        <Field label={t('usage.period')}>
          {(props) => (
            <Select
              {...props}
              value={days}
              onChange={(e) => setDays(Number(e.target.value))}
              className="w-40"
            >
              {[7, 30, 90].map((d) => (
                <option key={d} value={d}>
                  {t('usage.lastDays', { n: d })}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label={t('usage.metric')}>
          {(props) => (
            <Select
              {...props}
              value={metric}
              onChange={(e) => setMetric(e.target.value as 'cost' | 'tokens')}
              className="w-40"
            >
              <option value="tokens">{t('usage.tokens')}</option>
              <option value="cost">{t('usage.cost')}</option>
            </Select>
          )}
        </Field>
      </div>
      <ErrorNote error={usage.error} />
      {usage.isLoading && <Loading />}
      {usage.data && (
        <p className="text-sm" data-testid="usage-total">
          {t('usage.total', {
            calls: formatNumber(usage.data.total.calls, lang),
            tokens: formatNumber(usage.data.total.tokensIn + usage.data.total.tokensOut, lang),
            cost: formatUsd(usage.data.total.costUsd, lang),
          })}
        </p>
      )}
      {usage.isSuccess && rows.length === 0 && <Empty title={t('usage.empty')}>{t('usage.emptyHint')}</Empty>}
      {rows.length > 0 && (
        <div className="grid gap-4 lg:grid-cols-2">
          <Card>
            <BarChart
              title={`${metric === 'cost' ? t('usage.cost') : t('usage.tokens')} · ${t(`usage.by.${groupBy}`)}`}
              bars={rows.map((r) => ({ label: r.label, value: value(r), display: show(r) }))}
            />
          </Card>
          <Card className="min-w-0">
            {/* A phone may scroll the table sideways: the region takes focus so keys can scroll it too. */}
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1, axe scrollable-region-focusable) */}
            <section className="overflow-x-auto" tabIndex={0} aria-label={t('usage.tableCaption')}>
              <table className="w-full text-sm">
                <caption className="sr-only">{t('usage.tableCaption')}</caption>
                <thead>
                  <tr className="text-left">
                    <th scope="col" className="py-1 pr-2">
                      {t(`usage.by.${groupBy}`)}
                    </th>
                    <th scope="col" className="py-1 pr-2 text-right">
                      {t('usage.calls')}
                    </th>
                    <th scope="col" className="py-1 pr-2 text-right">
                      {t('usage.tokensIn')}
                    </th>
                    <th scope="col" className="py-1 pr-2 text-right">
                      {t('usage.tokensOut')}
                    </th>
                    <th scope="col" className="py-1 text-right">
                      {t('usage.cost')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.key} className="border-t border-slate-200 dark:border-slate-700">
                      <th scope="row" className="py-1 pr-2 text-left font-normal">
                        {r.label}
                      </th>
                      <td className="py-1 pr-2 text-right">{formatNumber(r.calls, lang)}</td>
                      <td className="py-1 pr-2 text-right">{formatNumber(r.tokensIn, lang)}</td>
                      <td className="py-1 pr-2 text-right">{formatNumber(r.tokensOut, lang)}</td>
                      <td className="py-1 text-right">
                        {formatUsd(r.costUsd, lang)}
                        {r.unpricedCalls > 0 && <span title={t('usage.unpriced')}> *</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </Card>
        </div>
      )}
    </div>
  )
}
