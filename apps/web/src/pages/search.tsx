import type { RunSearchSnippet } from '@openorch/contracts'
import { useInfiniteQuery } from '@tanstack/react-query'
import { Button, Empty, ErrorNote, Loading, PageTitle, StatusBadge } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatDateTime, outputText } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, useLocation } from '../lib/router.tsx'

// Full-text search across every run's output (GET /runs?q=, decision 0012). "/" or Ctrl/⌘+K in the
// header's search box lands here. The server sends each hit's snippet as text plus highlight offsets;
// it is rendered as React text with <mark> around the offsets, so nothing in an output is ever HTML.

/**
 * The snippet's text cut at its highlights, in order. Offsets that overlap, run backwards or leave the
 * text are skipped, so a bad offset can cost a highlight but never garble the text.
 */
export function highlightParts(snippet: RunSearchSnippet): Array<{ text: string; marked: boolean }> {
  const parts: Array<{ text: string; marked: boolean }> = []
  let at = 0
  for (const { start, end } of snippet.highlights) {
    if (start < at || end <= start || end > snippet.text.length) continue
    if (start > at) parts.push({ text: snippet.text.slice(at, start), marked: false })
    parts.push({ text: snippet.text.slice(start, end), marked: true })
    at = end
  }
  if (at < snippet.text.length) parts.push({ text: snippet.text.slice(at), marked: false })
  return parts
}

function Highlighted({ snippet }: { snippet: RunSearchSnippet }) {
  return (
    <>
      {highlightParts(snippet).map((part, i) =>
        part.marked ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one snippet never reorder
          <mark key={i} className="rounded-sm bg-yellow-200 text-slate-950 dark:bg-yellow-600">
            {part.text}
          </mark>
        ) : (
          part.text
        ),
      )}
    </>
  )
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
      {q.length >= 2 && (
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-300">{t('search.howItMatches')}</p>
      )}
      <ErrorNote error={results.error} />
      {results.isLoading && <Loading />}
      {results.isSuccess && items.length === 0 && (
        <Empty title={t('search.none')}>{t('search.noneHint')}</Empty>
      )}
      <ol className="space-y-2" aria-label={t('search.results')}>
        {items.map((run) => (
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
              <p className="mt-1 text-sm break-words">
                {run.snippet ? <Highlighted snippet={run.snippet} /> : outputText(run.output).slice(0, 200)}
              </p>
            </Link>
          </li>
        ))}
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
