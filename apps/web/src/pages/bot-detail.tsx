import type { ApiRun } from '@openorch/sdk'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { memo, useMemo, useRef, useState } from 'react'
import { BotChainSummary } from '../components/bot-chain.tsx'
import { BotNotifications } from '../components/bot-notifications.tsx'
import { type Bar, BarChart } from '../components/charts.tsx'
import { NotesEditor } from '../components/notes-editor.tsx'
import {
  Button,
  Card,
  Empty,
  ErrorNote,
  Field,
  Loading,
  PageTitle,
  StatusBadge,
  TextArea,
} from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { download } from '../lib/csv.ts'
import {
  firstLine,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatRelative,
  formatUsd,
  outputText,
} from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, navigate } from '../lib/router.tsx'
import { scheduleInWords } from '../lib/schedule-words.ts'

// A bot: its run history as a timeline (pages of 50, newest first), success rate and cost per day,
// and the actions: run now (with input), edit, duplicate, export, delete, notes.

const pageSize = 50

export default function BotDetail({ id }: { id: string }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const bot = useQuery({ queryKey: ['bot', id], queryFn: () => client.bots.get(id) })
  const runs = useInfiniteQuery({
    queryKey: ['bot-runs', id],
    queryFn: ({ pageParam }) =>
      client.bots.runs(id, { limit: pageSize, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
  const [input, setInput] = useState('')
  const [inputError, setInputError] = useState<string | null>(null)
  const dialog = useRef<HTMLDialogElement>(null)

  const runNow = useMutation({
    mutationFn: () => {
      const text = input.trim()
      let parsed: unknown
      if (text) {
        try {
          parsed = JSON.parse(text)
        } catch {
          parsed = text
        }
      }
      return client.bots.run(id, { trigger: 'manual', ...(text ? { input: parsed } : {}) })
    },
    onSuccess: (run) => navigate(`/runs/${encodeURIComponent(run.id)}`),
  })
  const duplicate = useMutation({
    mutationFn: () => client.bots.duplicate(id),
    onSuccess: async (copy) => {
      await queryClient.invalidateQueries({ queryKey: ['bots'] })
      navigate(`/bots/${encodeURIComponent(copy.id)}`)
    },
  })
  const exportBot = useMutation({
    mutationFn: () => client.bots.export(id),
    onSuccess: (doc) =>
      download(
        `${(bot.data?.name ?? 'bot').replace(/[^\w.-]+/g, '-')}.bot.json`,
        JSON.stringify(doc, null, 2),
        'application/json',
      ),
  })
  const remove = useMutation({
    mutationFn: () => client.bots.remove(id),
    onSuccess: async () => {
      dialog.current?.close()
      queryClient.removeQueries({ queryKey: ['bot', id] })
      await queryClient.invalidateQueries({ queryKey: ['bots'] })
      navigate('/')
    },
  })

  const items = runs.data?.pages.flatMap((p) => p.items) ?? []
  const perDay = useMemo(() => dailyStats(items), [items])

  if (bot.isLoading) return <Loading />
  if (!bot.data) return <ErrorNote error={bot.error} />
  const b = bot.data

  return (
    <div className="space-y-6">
      <PageTitle
        actions={
          <>
            <Link
              href={`/bots/${encodeURIComponent(id)}/edit`}
              className="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-900 no-underline hover:bg-slate-100 dark:border-slate-600 dark:bg-slate-800 dark:text-slate-100"
            >
              {t('botDetail.edit')}
            </Link>
            <Button busy={duplicate.isPending} onClick={() => duplicate.mutate()}>
              {t('botDetail.duplicate')}
            </Button>
            <Button busy={exportBot.isPending} onClick={() => exportBot.mutate()}>
              {t('botDetail.export')}
            </Button>
            <Button variant="danger" onClick={() => dialog.current?.showModal()}>
              {t('botDetail.delete')}
            </Button>
          </>
        }
      >
        <span aria-hidden="true">{b.emoji ?? '🤖'}</span> {b.name}
      </PageTitle>
      <ErrorNote error={duplicate.error ?? exportBot.error} />

      <dialog
        ref={dialog}
        aria-labelledby="delete-title"
        className="m-auto max-w-md rounded-lg bg-white p-6 text-slate-900 backdrop:bg-black/50 dark:bg-slate-800 dark:text-slate-100"
      >
        <h2 id="delete-title" className="text-lg font-semibold">
          {t('botDetail.deleteTitle', { name: b.name })}
        </h2>
        <p className="mt-2 text-sm">{t('botDetail.deleteText')}</p>
        <ErrorNote error={remove.error} className="mt-3" />
        <div className="mt-4 flex justify-end gap-2">
          <Button autoFocus onClick={() => dialog.current?.close()}>
            {t('common.cancel')}
          </Button>
          <Button variant="danger" busy={remove.isPending} onClick={() => remove.mutate()}>
            {t('botDetail.deleteConfirm')}
          </Button>
        </div>
      </dialog>

      <Card>
        {b.description && <p className="mb-3 text-slate-700 dark:text-slate-300">{b.description}</p>}
        <dl className="grid grid-cols-1 gap-3 text-sm sm:grid-cols-4">
          <div>
            <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.schedule')}</dt>
            <dd>{scheduleInWords(b.schedule, lang)}</dd>
          </div>
          <div>
            <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.nextRun')}</dt>
            <dd>
              {b.nextRunAt
                ? `${formatDateTime(b.nextRunAt, lang, b.timezone)} (${b.timezone})`
                : b.enabled
                  ? '–'
                  : t('dashboard.disabled')}
            </dd>
          </div>
          <div>
            <dt className="text-slate-600 dark:text-slate-400">{t('bot.model')}</dt>
            <dd>
              {b.provider} · {b.model}
            </dd>
          </div>
          <div>
            <dt className="text-slate-600 dark:text-slate-400">{t('botDetail.successRate')}</dt>
            <dd>{successRate(items, lang)}</dd>
          </div>
        </dl>
        <BotChainSummary bot={b} />
        {b.pausedReason && (
          <p role="alert" className="mt-3 text-sm text-amber-800 dark:text-amber-300">
            {t('botDetail.paused', { reason: b.pausedReason })}
          </p>
        )}
        <form
          className="mt-4 space-y-2"
          onSubmit={(event) => {
            event.preventDefault()
            setInputError(null)
            runNow.mutate()
          }}
        >
          <Field label={t('botDetail.input')} hint={t('botDetail.inputHint')} error={inputError ?? undefined}>
            {(props) => (
              <TextArea {...props} rows={2} value={input} onChange={(e) => setInput(e.target.value)} />
            )}
          </Field>
          <ErrorNote error={runNow.error} />
          <Button type="submit" variant="primary" busy={runNow.isPending}>
            {t('dashboard.runNow')}
          </Button>
        </form>
      </Card>

      {perDay.length > 0 && (
        <div className="grid gap-4 md:grid-cols-2">
          <Card>
            <BarChart
              title={t('botDetail.chartSuccess')}
              max={100}
              color="fill-emerald-600 dark:fill-emerald-400"
              bars={perDay.map(
                (d): Bar => ({ label: d.day.slice(5), value: d.rate, display: `${d.rate} %` }),
              )}
            />
          </Card>
          <Card>
            <BarChart
              title={t('botDetail.chartCost')}
              bars={perDay.map(
                (d): Bar => ({ label: d.day.slice(5), value: d.cost, display: formatUsd(d.cost, lang) }),
              )}
            />
          </Card>
        </div>
      )}

      <section aria-labelledby="timeline">
        <h2 id="timeline" className="mb-2 text-lg font-semibold">
          {t('botDetail.history')}
        </h2>
        <ErrorNote error={runs.error} />
        {runs.isSuccess && items.length === 0 && (
          <Empty title={t('botDetail.noRuns')}>{t('botDetail.noRunsHint')}</Empty>
        )}
        <ol className="space-y-2 border-l-2 border-slate-200 pl-4 dark:border-slate-700">
          {items.map((run) => (
            <TimelineItem key={run.id} run={run} />
          ))}
        </ol>
        {runs.hasNextPage && (
          <div className="mt-4">
            <Button busy={runs.isFetchingNextPage} onClick={() => void runs.fetchNextPage()}>
              {t('common.loadMore')}
            </Button>
          </div>
        )}
      </section>

      <BotNotifications botId={id} botName={b.name} />

      <NotesEditor botId={id} />
    </div>
  )
}

/** Memoised: "Load more" appends a page, and the items already shown keep their run objects. */
const TimelineItem = memo(function TimelineItem({ run }: { run: ApiRun }) {
  const { t, lang } = useI18n()
  const summary = run.error ? run.error.message : firstLine(outputText(run.output))
  return (
    <li className="cv-auto rounded-md bg-white p-3 shadow-sm dark:bg-slate-800">
      <Link
        href={`/runs/${encodeURIComponent(run.id)}`}
        className="block text-slate-900 no-underline dark:text-slate-100"
      >
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <time
            dateTime={run.createdAt}
            title={formatDateTime(run.createdAt, lang)}
            className="text-slate-600 dark:text-slate-400"
          >
            {formatRelative(run.createdAt, lang)}
          </time>
          <StatusBadge status={run.status} />
          {run.isNew && (
            <span className="rounded bg-indigo-100 px-1 text-xs text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100">
              {t('run.new')}
            </span>
          )}
          <span className="ml-auto text-xs text-slate-600 dark:text-slate-400">
            {run.tokensIn !== null &&
              `${formatNumber((run.tokensIn ?? 0) + (run.tokensOut ?? 0), lang)} ${t('run.tokensShort')} · `}
            {formatUsd(run.costUsd, lang)} · {formatDuration(run.durationMs, lang)}
          </span>
        </div>
        {summary && <p className="mt-1 truncate text-sm">{summary}</p>}
      </Link>
    </li>
  )
})

function successRate(runs: ApiRun[], lang: 'en' | 'de'): string {
  const ended = runs.filter(
    (r) => r.status === 'completed' || r.status === 'failed' || r.status === 'timeout',
  )
  if (ended.length === 0) return '–'
  const ok = ended.filter((r) => r.status === 'completed').length
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format((ok / ended.length) * 100)} % (${ok}/${ended.length})`
}

function dailyStats(runs: ApiRun[]): { day: string; rate: number; cost: number }[] {
  const days = new Map<string, { ok: number; ended: number; cost: number }>()
  for (const run of runs) {
    const day = run.createdAt.slice(0, 10)
    const entry = days.get(day) ?? { ok: 0, ended: 0, cost: 0 }
    if (run.status === 'completed') entry.ok++
    if (run.status === 'completed' || run.status === 'failed' || run.status === 'timeout') entry.ended++
    entry.cost += run.costUsd ?? 0
    days.set(day, entry)
  }
  return [...days.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(-30)
    .map(([day, e]) => ({ day, rate: e.ended ? Math.round((e.ok / e.ended) * 100) : 0, cost: e.cost }))
}
