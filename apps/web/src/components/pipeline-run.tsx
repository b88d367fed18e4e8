import type { ApiRun } from '@openorch/sdk'
import { useQuery } from '@tanstack/react-query'
import { useMemo } from 'react'
import { useClient } from '../lib/api.tsx'
import { useBotOptions } from '../lib/bot-options.ts'
import { formatDateTime } from '../lib/format.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import { Link } from '../lib/router.tsx'
import PipelineGraph, { type GraphStepView, stepStatusIcon, stepStatusStyle } from './pipeline-graph.tsx'
import { Card, cx, ErrorNote } from './ui.tsx'

// A pipeline run's steps: the graph of the version it runs, each node with its status (colour, icon
// and word) and a link to the step's own run, and the same as a list with times and why a step was
// skipped. The run page refreshes it while the run goes on.

export function PipelineRunSteps({ run }: { run: ApiRun }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const { byId } = useBotOptions()
  const pipelineId = run.pipelineId!
  const versions = useQuery({
    queryKey: ['pipeline', pipelineId, 'versions'],
    queryFn: () => client.pipelines.versions(pipelineId),
    staleTime: 5 * 60_000,
  })
  const definition = versions.data?.items.find((v) => v.version === run.pipelineVersion)
  const steps = run.steps ?? []
  const graphSteps = useMemo<GraphStepView[]>(() => {
    const statusOf = new Map(steps.map((s) => [s.key, s]))
    // The version's steps give the edges; without them (a version not found), the steps in order.
    const defined = definition?.steps ?? steps.map((s) => ({ key: s.key, bot: '', dependsOn: undefined }))
    return defined.map((step) => {
      const state = statusOf.get(step.key)
      return {
        key: step.key,
        dependsOn: step.dependsOn,
        botName: byId.get(step.bot)?.name ?? (step.bot || t('pipeline.step.noBot')),
        status: state?.status ?? 'pending',
        href: state?.runId ? `/runs/${encodeURIComponent(state.runId)}` : null,
        note: state?.skippedReason ?? null,
      }
    })
  }, [steps, definition, byId, t])

  return (
    <section aria-labelledby="pipeline-run-steps" className="space-y-3">
      <h2 id="pipeline-run-steps" className="text-lg font-semibold">
        {t('pipelineRun.steps')}
      </h2>
      <ErrorNote error={versions.error} />
      <PipelineGraph steps={graphSteps} label={t('pipelineRun.graph')} />
      <Card>
        <ol className="divide-y divide-slate-200 dark:divide-slate-700" data-testid="pipeline-run-steps">
          {graphSteps.map((step, index) => {
            const state = steps.find((s) => s.key === step.key)
            const status = step.status ?? 'pending'
            return (
              <li key={step.key} className="space-y-1 py-2 text-sm" data-testid="pipeline-run-step">
                <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                  <span className="font-mono font-semibold">
                    {index + 1}. {step.key}
                  </span>
                  <span
                    className={cx(
                      'inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium',
                      stepStatusStyle[status],
                    )}
                    data-testid="step-status"
                  >
                    <span aria-hidden="true">{stepStatusIcon[status]}</span>
                    {t(`stepStatus.${status}` as MessageKey)}
                  </span>
                  <span className="text-slate-700 dark:text-slate-300">{step.botName}</span>
                  {state && state.attempt > 1 && (
                    <span className="text-slate-700 dark:text-slate-300">
                      {t('pipelineRun.attempt', { n: state.attempt })}
                    </span>
                  )}
                  {step.href && (
                    <Link href={step.href}>{t('pipelineRun.openStepOf', { key: step.key })}</Link>
                  )}
                  {status === 'approval' && state?.approvalId && (
                    <Link href={`/approvals/${encodeURIComponent(state.approvalId)}`}>
                      {t('run.openApproval')}
                    </Link>
                  )}
                </div>
                {(state?.startedAt || state?.finishedAt) && (
                  <p className="text-xs text-slate-700 dark:text-slate-300">
                    {state.startedAt && (
                      <>
                        {t('pipelineRun.started')}{' '}
                        <time dateTime={state.startedAt}>{formatDateTime(state.startedAt, lang)}</time>
                      </>
                    )}
                    {state.startedAt && state.finishedAt && ' · '}
                    {state.finishedAt && (
                      <>
                        {t('pipelineRun.finished')}{' '}
                        <time dateTime={state.finishedAt}>{formatDateTime(state.finishedAt, lang)}</time>
                      </>
                    )}
                  </p>
                )}
                {step.note && (
                  <p className="text-xs break-words">
                    <span className="font-medium">
                      {status === 'failed' ? t('pipelineRun.why.failed') : t('pipelineRun.why.skipped')}
                    </span>{' '}
                    {step.note}
                  </p>
                )}
              </li>
            )
          })}
        </ol>
      </Card>
    </section>
  )
}
