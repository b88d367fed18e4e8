import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { lazy, Suspense, useMemo, useState } from 'react'
import { ToolCallItem } from '../components/tool-call.tsx'
import { Button, Card, ErrorNote, Loading, PageTitle, StatusBadge } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { runErrorAdvice } from '../lib/errors.ts'
import { formatDateTime, formatDuration, formatNumber, formatUsd, outputText } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { useLiveOutput, useLiveToolCalls } from '../lib/live.tsx'
import { renderMarkdown } from '../lib/markdown.ts'
import { Link, navigate } from '../lib/router.tsx'
import { timelineOf } from '../lib/tool-calls.ts'

// One run: its output (Markdown, sanitised), streamed live while it runs, its timeline (the log with
// each tool call inline, running calls live), input, attempts and error with what to do; a run
// waiting for approval links to it; cancel while it may still run, retry once it has ended. A
// pipeline's run shows its steps as a graph with their live status; besides the live feed it is read
// again every 2 s while it goes on, since a step's state changes after its run's event (the pipelines
// consumer moves it on).

const active = new Set(['pending', 'running', 'waiting'])
const retriable = new Set(['failed', 'cancelled', 'timeout'])
// The graph library loads with a pipeline's run only.
const PipelineRunSteps = lazy(() =>
  import('../components/pipeline-run.tsx').then((module) => ({ default: module.PipelineRunSteps })),
)

export default function RunDetail({ id }: { id: string }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const run = useQuery({
    queryKey: ['run', id],
    queryFn: () => client.runs.get(id),
    refetchInterval: (query) =>
      query.state.data?.kind === 'pipeline' && active.has(query.state.data.status) ? 2000 : false,
  })
  const log = useQuery({
    queryKey: ['run', id, 'log'],
    queryFn: () => client.runs.log(id),
    enabled: run.isSuccess,
  })
  const bot = useQuery({
    queryKey: ['bot', run.data?.botId],
    queryFn: () => client.bots.get(run.data!.botId!),
    enabled: !!run.data?.botId,
  })
  const pipelineId = run.data?.kind === 'pipeline' ? run.data.pipelineId : null
  const pipeline = useQuery({
    queryKey: ['pipeline', pipelineId],
    queryFn: () => client.pipelines.get(pipelineId!),
    enabled: !!pipelineId,
    // A pipeline removed since: the run still shows, without its name.
    retry: false,
  })
  const live = useLiveOutput(id)
  const liveCalls = useLiveToolCalls(id)
  const waitsForApproval = run.data?.status === 'waiting' && run.data.waitReason === 'approval'
  const approvals = useQuery({
    queryKey: ['approvals', 'run', id],
    queryFn: () => client.approvals.list({ runId: id, status: 'pending', limit: 5 }),
    enabled: waitsForApproval,
  })
  const cancel = useMutation({
    mutationFn: () => client.runs.cancel(id),
    onSuccess: (updated) => queryClient.setQueryData(['run', id], updated),
  })
  const retry = useMutation({
    mutationFn: () => client.runs.retry(id),
    onSuccess: (updated) => {
      queryClient.setQueryData(['run', updated.id], updated)
      if (updated.id !== id) navigate(`/runs/${encodeURIComponent(updated.id)}`)
    },
  })

  const data = run.data
  const isPipeline = data?.kind === 'pipeline' && data.pipelineId !== null
  const isActive = data ? active.has(data.status) : false
  // A pipeline run's input is kept with the version it runs ({ version, input }): what was given is `input`.
  const shownInput =
    isPipeline && typeof data?.input === 'object' && data.input !== null && 'input' in data.input
      ? (data.input as { input: unknown }).input
      : data?.input
  const finalText = data ? outputText(data.output) : ''
  const html = useMemo(() => (finalText ? renderMarkdown(finalText) : ''), [finalText])
  // Calls the feed reported only while the run runs: after it, the log has every finished one.
  const timeline = useMemo(
    () => timelineOf(log.data?.items ?? [], isActive ? liveCalls : []),
    [log.data, liveCalls, isActive],
  )

  if (run.isLoading) return <Loading />
  if (!data) return <ErrorNote error={run.error} />

  return (
    <div className="space-y-6">
      {isPipeline && (
        <p className="text-sm">
          <Link href={`/pipelines/${encodeURIComponent(data.pipelineId!)}`}>
            ← {pipeline.data ? `${pipeline.data.emoji ?? '🔗'} ${pipeline.data.name}` : t('pipelineRun.back')}
          </Link>
        </p>
      )}
      {data.botId && (
        <p className="text-sm">
          <Link href={`/bots/${encodeURIComponent(data.botId)}`}>
            ← {bot.data ? `${bot.data.emoji ?? '🤖'} ${bot.data.name}` : t('run.backToBot')}
          </Link>
        </p>
      )}
      <PageTitle
        actions={
          <>
            {isActive && (
              <Button variant="danger" busy={cancel.isPending} onClick={() => cancel.mutate()}>
                {t('run.cancel')}
              </Button>
            )}
            {retriable.has(data.status) && (
              <Button variant="primary" busy={retry.isPending} onClick={() => retry.mutate()}>
                {t('run.retry')}
              </Button>
            )}
          </>
        }
      >
        {isPipeline ? t('pipelineRun.title') : t('run.title')}
      </PageTitle>
      <ErrorNote error={cancel.error ?? retry.error} />

      <Card>
        <div className="flex flex-wrap items-center gap-3" role="status" aria-live="polite">
          <StatusBadge status={data.status} />
          {data.isNew && (
            <span className="rounded bg-indigo-100 px-2 py-0.5 text-xs text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100">
              {t('run.new')}
            </span>
          )}
          <span className="text-sm text-slate-700 dark:text-slate-300">
            {t('run.trigger')}: {t(`trigger.${data.trigger}` as 'trigger.manual')}
          </span>
        </div>
        <dl className="mt-4 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
          <Stat label={t('run.created')} value={formatDateTime(data.createdAt, lang)} />
          <Stat label={t('run.duration')} value={formatDuration(data.durationMs, lang)} />
          <Stat
            label={t('run.tokens')}
            value={
              data.tokensIn === null
                ? '–'
                : `${formatNumber(data.tokensIn, lang)} / ${formatNumber(data.tokensOut, lang)}`
            }
          />
          <Stat label={t('run.cost')} value={formatUsd(data.costUsd, lang)} />
          <Stat
            label={t('run.attempt')}
            value={t('run.attemptOf', { n: data.attempt, max: data.maxAttempts })}
          />
          {isPipeline && data.pipelineVersion !== undefined && (
            <Stat label={t('pipelineRun.version')} value={String(data.pipelineVersion)} />
          )}
        </dl>
        {data.traceId && <TraceRow traceId={data.traceId} />}
      </Card>

      {waitsForApproval && (
        <section
          aria-labelledby="run-approval"
          className="rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50"
        >
          <h2 id="run-approval" className="font-semibold">
            <span aria-hidden="true">⏸️</span> {t('run.waitingForApproval')}
          </h2>
          {approvals.data?.items[0] ? (
            <p className="mt-1">
              {approvals.data.items[0].toolSet === 'pipeline'
                ? t('pipelineRun.approvalAsks', { step: approvals.data.items[0].tool })
                : t('run.approvalAsks', { tool: approvals.data.items[0].tool })}{' '}
              <Link
                href={`/approvals/${encodeURIComponent(approvals.data.items[0].id)}`}
                className="underline"
              >
                {t('run.openApproval')}
              </Link>
            </p>
          ) : (
            <p className="mt-1">
              <Link href="/approvals" className="underline">
                {t('run.openApprovals')}
              </Link>
            </p>
          )}
        </section>
      )}

      {data.error && (
        <section
          aria-labelledby="run-error"
          className="rounded-lg border border-red-300 bg-red-50 p-4 text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-50"
        >
          <h2 id="run-error" className="font-semibold">
            {t('run.error')} <span className="font-mono text-sm">{data.error.code}</span>
          </h2>
          <p className="mt-1">{data.error.message}</p>
          <p className="mt-2 text-sm">
            <span className="font-medium">{t('run.whatToDo')}</span> {runErrorAdvice(data.error.code, t)}
          </p>
          {data.deadLettered && <p className="mt-2 text-sm">{t('run.deadLettered')}</p>}
        </section>
      )}

      {isPipeline && (
        <Suspense fallback={<Loading />}>
          <PipelineRunSteps run={data} />
        </Suspense>
      )}

      <section aria-labelledby="run-output">
        <h2 id="run-output" className="mb-2 text-lg font-semibold">
          {t('run.output')}
        </h2>
        <Card>
          {finalText ? (
            // Sanitised by DOMPurify in renderMarkdown (no class, id or style). Contained as well, so
            // nothing inside can be positioned or painted outside the box: `contain: content` makes it
            // the containing block of fixed and absolute descendants and clips their painting to it.
            <div
              className="markdown relative isolate overflow-x-auto [contain:content]"
              data-testid="run-output"
              // biome-ignore lint/security/noDangerouslySetInnerHtml: the HTML is sanitised (lib/markdown.ts)
              dangerouslySetInnerHTML={{ __html: html }}
            />
          ) : live ? (
            <div aria-busy={isActive} data-testid="run-output">
              <p className="mb-2 text-xs text-slate-600 dark:text-slate-400">{t('run.streaming')}</p>
              <pre className="whitespace-pre-wrap font-sans">{live}</pre>
            </div>
          ) : (
            <p className="text-slate-600 dark:text-slate-400">
              {isActive ? t('run.waitingForOutput') : t('run.noOutput')}
            </p>
          )}
        </Card>
      </section>

      {shownInput !== null && shownInput !== undefined && (
        <section aria-labelledby="run-input">
          <h2 id="run-input" className="mb-2 text-lg font-semibold">
            {t('run.input')}
          </h2>
          <Card>
            <pre className="overflow-x-auto text-sm whitespace-pre-wrap">
              {JSON.stringify(shownInput, null, 2)}
            </pre>
          </Card>
        </section>
      )}

      <section aria-labelledby="run-log">
        <h2 id="run-log" className="mb-2 text-lg font-semibold">
          {t('run.log')}
        </h2>
        <Card>
          <ErrorNote error={log.error} />
          {log.data && timeline.length === 0 && (
            <p className="text-slate-600 dark:text-slate-400">{t('run.logEmpty')}</p>
          )}
          <ol className="space-y-1 font-mono text-xs [overflow-wrap:anywhere]" data-testid="run-timeline">
            {timeline.map((item, i) =>
              item.kind === 'tool' ? (
                <li key={`tool-${item.call.toolCallId}`}>
                  <ToolCallItem call={item.call} at={item.at} botId={data.botId} />
                </li>
              ) : item.kind === 'approval' ? (
                // biome-ignore lint/suspicious/noArrayIndexKey: the log only grows at its end
                <li key={`${item.entry.at}-${i}`}>
                  <time dateTime={item.entry.at}>{new Date(item.entry.at).toLocaleTimeString(lang)}</time> #
                  {item.entry.attempt} {t('run.approvalAsked', { tool: item.tool })}{' '}
                  <Link
                    href={`/approvals/${encodeURIComponent(item.approvalId)}`}
                    className="font-sans underline"
                  >
                    {t('run.openApproval')}
                  </Link>
                </li>
              ) : (
                <li
                  // biome-ignore lint/suspicious/noArrayIndexKey: the log only grows at its end
                  key={`${item.entry.at}-${i}`}
                  className={
                    item.entry.level === 'error'
                      ? 'text-red-700 dark:text-red-300'
                      : item.entry.level === 'warn'
                        ? 'text-amber-800 dark:text-amber-300'
                        : ''
                  }
                >
                  <time dateTime={item.entry.at}>{new Date(item.entry.at).toLocaleTimeString(lang)}</time> #
                  {item.entry.attempt} {item.entry.level} {item.entry.message}
                  {item.entry.data && (
                    <span className="text-slate-600 dark:text-slate-400">
                      {' '}
                      {JSON.stringify(item.entry.data)}
                    </span>
                  )}
                </li>
              ),
            )}
          </ol>
        </Card>
      </section>
    </div>
  )
}

/** The run's OpenTelemetry trace id (tracing on), to look it up in the tracing backend: with a copy button. */
function TraceRow({ traceId }: { traceId: string }) {
  const { t } = useI18n()
  const [copied, setCopied] = useState('')
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(traceId)
      setCopied(t('run.traceCopied'))
    } catch {
      setCopied(t('run.traceCopyFailed'))
    }
  }
  return (
    <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
      <span className="text-slate-600 dark:text-slate-400">{t('run.trace')}</span>
      <code className="break-all font-mono" data-testid="run-trace-id">
        {traceId}
      </code>
      <Button className="px-2 py-1" onClick={() => void copy()} aria-label={t('run.traceCopy')}>
        {t('keys.copy')}
      </Button>
      <span role="status" className="empty:hidden">
        {copied}
      </span>
    </div>
  )
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <dt className="text-slate-600 dark:text-slate-400">{label}</dt>
      <dd className="font-medium">{value}</dd>
    </div>
  )
}
