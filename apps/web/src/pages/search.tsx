import { useInfiniteQuery } from '@tanstack/react-query'
import { Button, Empty, ErrorNote, Loading, PageTitle, StatusBadge } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatDateTime, outputText } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, useLocation } from '../lib/router.tsx'

// Search across every run's output (GET /runs?q=), with the match shown in context.

function snippet(text: string, q: string): { before: string; match: string; after: string } {
  const at = text.toLowerCase().indexOf(q.toLowerCase())
  if (at < 0) return { before: text.slice(0, 160), match: '', after: '' }
  const start = Math.max(0, at - 60)
  return {
    before: (start > 0 ? '…' : '') + text.slice(start, at),
    match: text.slice(at, at + q.length),
    after: text.slice(at + q.length, at + q.length + 100),
  }
}

export default function Search() {
  const { t, lang } = useI18n()
  const client = useClient()
  const { query } = useLocation()
  const q = (query.get('q') ?? '').trim()
  const results = useInfiniteQuery({
    queryKey: ['runs', 'search', q],
    queryFn: ({ pageParam }) =>
      client.runs.list({ q, limit: 50, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    enabled: q.length >= 2,
  })
  const items = results.data?.pages.flatMap((p) => p.items) ?? []
  return (
    <div>
      <PageTitle>{q ? t('search.titleFor', { q }) : t('search.title')}</PageTitle>
      {q.length < 2 && <p>{t('search.hint')}</p>}
      <ErrorNote error={results.error} />
      {results.isLoading && <Loading />}
      {results.isSuccess && items.length === 0 && (
        <Empty title={t('search.none')}>{t('search.noneHint')}</Empty>
      )}
      <ol className="space-y-2">
        {items.map((run) => {
          const s = snippet(outputText(run.output), q)
          return (
            <li key={run.id} className="rounded-md bg-white p-3 shadow-sm dark:bg-slate-800">
              <Link
                href={`/runs/${encodeURIComponent(run.id)}`}
                className="block text-slate-900 no-underline dark:text-slate-100"
              >
                <div className="flex flex-wrap items-center gap-2 text-sm">
                  <StatusBadge status={run.status} />
                  <time dateTime={run.createdAt} className="text-slate-600 dark:text-slate-400">
                    {formatDateTime(run.createdAt, lang)}
                  </time>
                </div>
                <p className="mt-1 text-sm">
                  {s.before}
                  {s.match && (
                    <mark className="bg-yellow-200 text-slate-950 dark:bg-yellow-600">{s.match}</mark>
                  )}
                  {s.after}
                </p>
              </Link>
            </li>
          )
        })}
      </ol>
      {results.hasNextPage && (
        <Button
          className="mt-4"
          busy={results.isFetchingNextPage}
          onClick={() => void results.fetchNextPage()}
        >
          {t('common.loadMore')}
        </Button>
      )}
    </div>
  )
}
