import type { Bot } from '@openorch/contracts'
import type { Client } from '@openorch/sdk'
import {
  infiniteQueryOptions,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query'
import { memo, useState } from 'react'
import { Button, Card, cx, Empty, ErrorNote, Loading, PageTitle, statusIcon } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, navigate } from '../lib/router.tsx'
import { scheduleInWords } from '../lib/schedule-words.ts'

// The bots as cards: schedule in words, next run, last result, enabled toggle, run now. Pages of
// 100 bots; cards off screen are skipped by the browser (content-visibility), so 1,000 stay smooth.

const pageSize = 100
/** DESIGN.md: more than 10 pending runs is a warning. */
const backedUpAt = 10

/** The bot list's query; the shell starts it together with the onboarding check (no waterfall). */
export function botsQuery(client: Client) {
  return infiniteQueryOptions({
    queryKey: ['bots'],
    queryFn: ({ pageParam }) =>
      client.bots.list({ limit: pageSize, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
}

export function Dashboard() {
  const { t } = useI18n()
  const client = useClient()
  const bots = useInfiniteQuery(botsQuery(client))
  const items = bots.data?.pages.flatMap((p) => p.items) ?? []

  return (
    <div>
      <PageTitle
        actions={
          <Link
            href="/bots/new"
            className="rounded-md bg-indigo-700 px-3 py-2 text-sm font-medium text-white no-underline hover:bg-indigo-800 dark:bg-indigo-400 dark:text-slate-950"
          >
            {t('dashboard.newBot')}
          </Link>
        }
      >
        {t('dashboard.title')}
      </PageTitle>
      <QueueBanner />
      <ErrorNote error={bots.error} />
      {bots.isLoading && <Loading />}
      {bots.isSuccess && items.length === 0 && (
        <Empty title={t('dashboard.empty')}>
          <p>{t('dashboard.emptyHint')}</p>
          <p className="mt-3">
            <Link href="/bots/new?template=scout">{t('dashboard.emptyAction')}</Link>
          </p>
        </Empty>
      )}
      <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" aria-label={t('dashboard.title')}>
        {items.map((bot) => (
          <li key={bot.id} className="cv-auto">
            <BotCard bot={bot} />
          </li>
        ))}
      </ul>
      {bots.hasNextPage && (
        <div className="mt-6 text-center">
          <Button busy={bots.isFetchingNextPage} onClick={() => void bots.fetchNextPage()}>
            {t('common.loadMore')}
          </Button>
        </div>
      )}
    </div>
  )
}

function QueueBanner() {
  const { t } = useI18n()
  const client = useClient()
  const pending = useQuery({
    queryKey: ['queue'],
    queryFn: () => client.runs.list({ status: 'pending', limit: backedUpAt + 1 }),
    refetchInterval: 60_000,
  })
  if (!pending.data || pending.data.items.length <= backedUpAt) return null
  return (
    <div
      role="status"
      className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <p className="font-medium">{t('dashboard.queueBackedUp', { count: `${backedUpAt}+` })}</p>
      <p>{t('dashboard.queueBackedUpHint')}</p>
    </div>
  )
}

/** Memoised: "Load more" appends 100 cards, and the cards already shown keep their bot objects. */
const BotCard = memo(function BotCard({ bot }: { bot: Bot }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const [error, setError] = useState<unknown>(null)
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => client.bots.update(bot.id, { enabled }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['bots'] }),
    onError: setError,
  })
  const runNow = useMutation({
    mutationFn: () => client.bots.run(bot.id, { trigger: 'manual' }),
    onSuccess: (run) => navigate(`/runs/${encodeURIComponent(run.id)}`),
    onError: setError,
  })
  const last = bot.lastRun
  const headingId = `bot-${bot.id}`
  return (
    <Card className="flex h-full flex-col gap-3">
      <div className="flex items-start justify-between gap-2">
        <h2 id={headingId} className="text-lg font-semibold">
          <Link href={`/bots/${encodeURIComponent(bot.id)}`} className="text-slate-900 dark:text-white">
            <span aria-hidden="true">{bot.emoji ?? '🤖'}</span> {bot.name}
          </Link>
        </h2>
        <button
          type="button"
          role="switch"
          aria-checked={bot.enabled}
          aria-label={t('dashboard.enabledLabel', { name: bot.name })}
          onClick={() => toggle.mutate(!bot.enabled)}
          disabled={toggle.isPending}
          className={cx(
            'relative inline-flex h-6 w-11 shrink-0 items-center rounded-full transition-colors',
            bot.enabled ? 'bg-emerald-600' : 'bg-slate-400 dark:bg-slate-600',
          )}
        >
          <span
            aria-hidden="true"
            className={cx(
              'inline-block h-5 w-5 rounded-full bg-white shadow transition-transform',
              bot.enabled ? 'translate-x-5' : 'translate-x-0.5',
            )}
          />
        </button>
      </div>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.schedule')}</dt>
        <dd>{scheduleInWords(bot.schedule, lang)}</dd>
        <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.nextRun')}</dt>
        <dd>
          {bot.pausedReason
            ? t('dashboard.paused')
            : bot.nextRunAt
              ? formatRelative(bot.nextRunAt, lang)
              : bot.enabled
                ? '–'
                : t('dashboard.disabled')}
        </dd>
      </dl>
      {bot.recentRuns.length > 1 && (
        <ol aria-label={t('dashboard.recentRuns')} className="flex gap-1 text-sm">
          {bot.recentRuns.map((run) => (
            <li key={run.id}>
              <Link
                href={`/runs/${encodeURIComponent(run.id)}`}
                className="no-underline"
                title={t(`status.${run.status}`)}
              >
                <span aria-hidden="true">{statusIcon[run.status]}</span>
                <span className="sr-only">{t(`status.${run.status}`)}</span>
              </Link>
            </li>
          ))}
        </ol>
      )}
      <div className="min-h-10 text-sm">
        {last ? (
          <Link
            href={`/runs/${encodeURIComponent(last.id)}`}
            className="block text-slate-800 no-underline hover:underline dark:text-slate-200"
          >
            <span aria-hidden="true">{statusIcon[last.status]}</span>{' '}
            <span className="sr-only">{t(`status.${last.status}`)}: </span>
            {last.isNew && (
              <span className="mr-1 rounded bg-indigo-100 px-1 text-xs text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100">
                {t('run.new')}
              </span>
            )}
            {last.summary ?? t(`status.${last.status}`)}
            <span className="block text-xs text-slate-600 dark:text-slate-400">
              {formatRelative(last.finishedAt ?? last.createdAt, lang)}
            </span>
          </Link>
        ) : (
          <p className="text-slate-600 dark:text-slate-400">{t('dashboard.noRuns')}</p>
        )}
      </div>
      <ErrorNote error={error} />
      <div className="mt-auto flex gap-2">
        <Button
          variant="primary"
          busy={runNow.isPending}
          onClick={() => runNow.mutate()}
          aria-describedby={headingId}
        >
          {t('dashboard.runNow')}
        </Button>
      </div>
    </Card>
  )
})
