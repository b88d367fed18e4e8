import type { Pipeline } from '@openorch/contracts'
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query'
import { memo, useState } from 'react'
import { ConfirmButton } from '../components/confirm.tsx'
import { Button, Card, Empty, ErrorNote, Loading, PageTitle, StatusBadge } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Link, navigate } from '../lib/router.tsx'
import { scheduleInWords } from '../lib/schedule-words.ts'

// The pipelines as cards: schedule in words, next run, the last run's status (it comes with the list:
// no request per card), and run now, duplicate and delete (after asking). What became of a duplicate
// or a deletion is said above the list.

const pageSize = 100

export default function Pipelines() {
  const { t } = useI18n()
  const client = useClient()
  const role = useMyRole()
  const pipelines = useInfiniteQuery({
    queryKey: ['pipelines'],
    queryFn: ({ pageParam }) =>
      client.pipelines.list({ limit: pageSize, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
  const items = pipelines.data?.pages.flatMap((p) => p.items) ?? []
  const [outcome, setOutcome] = useState('')
  const canEdit = mayOffer(role, 'editor')

  return (
    <div>
      <PageTitle
        actions={
          canEdit ? (
            <Link
              href="/pipelines/new"
              className="rounded-md bg-indigo-700 px-3 py-2 text-sm font-medium text-white no-underline hover:bg-indigo-800 dark:bg-indigo-400 dark:text-slate-950"
            >
              {t('pipelines.new')}
            </Link>
          ) : undefined
        }
      >
        {t('pipelines.title')}
      </PageTitle>
      <p className="mb-4 max-w-3xl text-slate-700 dark:text-slate-300">{t('pipelines.intro')}</p>
      <p role="status" className="mb-4 empty:hidden" data-testid="pipelines-outcome">
        {outcome}
      </p>
      <ErrorNote error={pipelines.error} />
      {pipelines.isLoading && <Loading />}
      {pipelines.isSuccess && items.length === 0 && (
        <Empty title={t('pipelines.empty')}>
          <p>{t('pipelines.emptyHint')}</p>
        </Empty>
      )}
      <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" aria-label={t('pipelines.title')}>
        {items.map((pipeline) => (
          <li key={pipeline.id} className="cv-auto" data-testid="pipeline-card">
            <PipelineCard pipeline={pipeline} canEdit={canEdit} onOutcome={setOutcome} />
          </li>
        ))}
      </ul>
      {pipelines.hasNextPage && (
        <div className="mt-6 text-center">
          <Button busy={pipelines.isFetchingNextPage} onClick={() => void pipelines.fetchNextPage()}>
            {t('common.loadMore')}
          </Button>
        </div>
      )}
    </div>
  )
}

const PipelineCard = memo(function PipelineCard({
  pipeline,
  canEdit,
  onOutcome,
}: {
  pipeline: Pipeline
  canEdit: boolean
  onOutcome: (text: string) => void
}) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const [error, setError] = useState<unknown>(null)
  const runNow = useMutation({
    mutationFn: () => client.pipelines.run(pipeline.id, { trigger: 'manual' }),
    onSuccess: (run) => navigate(`/runs/${encodeURIComponent(run.id)}`),
    onError: setError,
  })
  const duplicate = useMutation({
    mutationFn: () => client.pipelines.duplicate(pipeline.id),
    onSuccess: async (copy) => {
      await queryClient.invalidateQueries({ queryKey: ['pipelines'] })
      onOutcome(t('pipelines.duplicated', { name: copy.name }))
    },
    onError: setError,
  })
  const remove = useMutation({
    mutationFn: () => client.pipelines.remove(pipeline.id),
  })
  const lastRun = pipeline.lastRun
  const headingId = `pipeline-${pipeline.id}`
  return (
    <Card className="flex h-full flex-col gap-3">
      <h2 id={headingId} className="text-lg font-semibold">
        <Link
          href={`/pipelines/${encodeURIComponent(pipeline.id)}`}
          className="text-slate-900 dark:text-white"
        >
          <span aria-hidden="true">{pipeline.emoji ?? '🔗'}</span> {pipeline.name}
        </Link>
      </h2>
      {pipeline.description && (
        <p className="text-sm text-slate-700 dark:text-slate-300">{pipeline.description}</p>
      )}
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-slate-600 dark:text-slate-400">{t('pipelines.steps')}</dt>
        <dd className="break-words">
          <span className="font-mono">{pipeline.steps.map((s) => s.key).join(' → ')}</span>
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.schedule')}</dt>
        <dd>{scheduleInWords(pipeline.schedule, lang)}</dd>
        <dt className="text-slate-600 dark:text-slate-400">{t('dashboard.nextRun')}</dt>
        <dd>
          {pipeline.nextRunAt
            ? formatRelative(pipeline.nextRunAt, lang)
            : pipeline.schedule && !pipeline.enabled
              ? t('dashboard.disabled')
              : '–'}
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">{t('pipelines.lastRun')}</dt>
        <dd data-testid="pipeline-last-run">
          {lastRun ? (
            <Link href={`/runs/${encodeURIComponent(lastRun.id)}`} className="no-underline hover:underline">
              <StatusBadge status={lastRun.status} />{' '}
              <span className="text-xs text-slate-700 dark:text-slate-300">
                {formatRelative(lastRun.finishedAt ?? lastRun.createdAt, lang)}
              </span>
            </Link>
          ) : (
            t('dashboard.noRuns')
          )}
        </dd>
      </dl>
      <ErrorNote error={error} />
      {canEdit && (
        <div className="mt-auto flex flex-wrap gap-2">
          <Button
            variant="primary"
            busy={runNow.isPending}
            onClick={() => runNow.mutate()}
            aria-describedby={headingId}
          >
            {t('dashboard.runNow')}
          </Button>
          <Button
            busy={duplicate.isPending}
            onClick={() => duplicate.mutate()}
            aria-label={t('pipelines.duplicateLabel', { name: pipeline.name })}
          >
            {t('pipelines.duplicate')}
          </Button>
          <ConfirmButton
            label={t('pipelines.delete')}
            accessibleLabel={t('pipelines.deleteLabel', { name: pipeline.name })}
            title={t('pipelines.deleteTitle', { name: pipeline.name })}
            text={t('pipelines.deleteText')}
            confirmLabel={t('pipelines.deleteConfirm')}
            busy={remove.isPending}
            error={remove.error}
            onConfirm={async () => {
              try {
                await remove.mutateAsync()
              } catch {
                return false
              }
              onOutcome(t('pipelines.deleted', { name: pipeline.name }))
              void queryClient.invalidateQueries({ queryKey: ['pipelines'] })
              return true
            }}
            focusAfter={() => document.getElementById('main')}
          />
        </div>
      )}
    </Card>
  )
})
