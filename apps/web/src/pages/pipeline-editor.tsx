import type { Pipeline } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { browserTimeZone } from '../components/bot-form.tsx'
import { PipelineEditorForm } from '../components/pipeline-editor.tsx'
import { Button, Card, ErrorNote, Loading, PageTitle, StatusBadge } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatDateTime, formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { emptyForm, formOfPipeline } from '../lib/pipeline-form.ts'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Link, navigate } from '../lib/router.tsx'

// A pipeline's page: the editor (a new pipeline without an id), run now, and its recent runs.

export default function PipelineEditor({ id }: { id?: string }) {
  const { t } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const pipeline = useQuery({
    queryKey: ['pipeline', id],
    queryFn: () => client.pipelines.get(id!),
    enabled: id !== undefined,
  })
  const [saved, setSaved] = useState('')
  // A new form after each save, so it shows what the server stored.
  const [generation, setGeneration] = useState(0)

  if (id === undefined)
    return (
      <div className="mx-auto max-w-4xl">
        <p className="mb-2 text-sm">
          <Link href="/pipelines">← {t('pipelines.title')}</Link>
        </p>
        <PageTitle>{t('pipeline.newTitle')}</PageTitle>
        <PipelineEditorForm
          initial={emptyForm(browserTimeZone())}
          submitLabel={t('pipeline.create')}
          onSubmit={async (body) => {
            const created = await client.pipelines.create(body)
            queryClient.setQueryData(['pipeline', created.id], created)
            await queryClient.invalidateQueries({ queryKey: ['pipelines'] })
            navigate(`/pipelines/${encodeURIComponent(created.id)}`)
          }}
        />
      </div>
    )

  if (pipeline.isLoading) return <Loading />
  if (!pipeline.data) return <ErrorNote error={pipeline.error} />
  const data = pipeline.data
  return (
    <div className="mx-auto max-w-4xl space-y-6">
      <p className="text-sm">
        <Link href="/pipelines">← {t('pipelines.title')}</Link>
      </p>
      <PageTitle actions={<RunNow pipeline={data} />}>
        <span aria-hidden="true">{data.emoji ?? '🔗'}</span> {data.name}
      </PageTitle>
      <p className="text-sm text-slate-700 dark:text-slate-300" data-testid="pipeline-version">
        {t('pipeline.version', { n: data.version })}
      </p>
      <p role="status" className="empty:hidden" data-testid="pipeline-saved">
        {saved}
      </p>
      <RecentRuns pipelineId={data.id} />
      <section aria-labelledby="pipeline-edit" className="space-y-3">
        <h2 id="pipeline-edit" className="text-lg font-semibold">
          {t('pipeline.editTitle')}
        </h2>
        <PipelineEditorForm
          key={`${data.id}-${generation}`}
          initial={formOfPipeline(data)}
          submitLabel={t('pipeline.save')}
          onSubmit={async (body) => {
            setSaved('')
            const next = await client.pipelines.update(data.id, body)
            queryClient.setQueryData(['pipeline', data.id], next)
            await queryClient.invalidateQueries({ queryKey: ['pipelines'] })
            setGeneration((g) => g + 1)
            setSaved(t('pipeline.saved', { n: next.version }))
          }}
        />
      </section>
    </div>
  )
}

function RunNow({ pipeline }: { pipeline: Pipeline }) {
  const { t } = useI18n()
  const client = useClient()
  const role = useMyRole()
  const run = useMutation({
    mutationFn: () => client.pipelines.run(pipeline.id, { trigger: 'manual' }),
    onSuccess: (started) => navigate(`/runs/${encodeURIComponent(started.id)}`),
  })
  if (!mayOffer(role, 'editor')) return null
  return (
    <>
      <Button variant="primary" busy={run.isPending} onClick={() => run.mutate()}>
        {t('dashboard.runNow')}
      </Button>
      {run.error ? <ErrorNote error={run.error} className="w-full" /> : null}
    </>
  )
}

function RecentRuns({ pipelineId }: { pipelineId: string }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const runs = useQuery({
    queryKey: ['pipeline-runs', pipelineId, 'recent'],
    queryFn: () => client.pipelines.runs(pipelineId, { limit: 10 }),
  })
  return (
    <section aria-labelledby="pipeline-runs">
      <h2 id="pipeline-runs" className="mb-2 text-lg font-semibold">
        {t('pipeline.runs')}
      </h2>
      <Card>
        <ErrorNote error={runs.error} />
        {runs.isLoading && <Loading />}
        {runs.data && runs.data.items.length === 0 && (
          <p className="text-sm text-slate-700 dark:text-slate-300">{t('dashboard.noRuns')}</p>
        )}
        <ol className="divide-y divide-slate-200 dark:divide-slate-700">
          {runs.data?.items.map((run) => (
            <li key={run.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2 text-sm">
              <StatusBadge status={run.status} />
              <Link href={`/runs/${encodeURIComponent(run.id)}`}>
                <time dateTime={run.createdAt} title={formatDateTime(run.createdAt, lang)}>
                  {formatRelative(run.createdAt, lang)}
                </time>
              </Link>
              <span className="text-slate-700 dark:text-slate-300">
                {t('pipeline.runSteps', {
                  done: run.steps.filter((s) => s.status === 'completed').length,
                  total: run.steps.length,
                })}
                {' · '}
                {t('pipeline.version', { n: run.pipelineVersion })}
              </span>
            </li>
          ))}
        </ol>
      </Card>
    </section>
  )
}
