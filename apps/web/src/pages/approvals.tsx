import { type Approval, approvalStatuses } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useMemo, useState } from 'react'
import { Button, Card, cx, Empty, ErrorNote, Field, Loading, PageTitle, TextArea } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { formatDateTime, formatRelative, outputText } from '../lib/format.ts'
import { type MessageKey, type Translate, useI18n } from '../lib/i18n.tsx'
import { renderMarkdown } from '../lib/markdown.ts'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Link, useLocation } from '../lib/router.tsx'
import { argumentRows, formatArguments } from '../lib/tool-calls.ts'

// The approvals inbox: tool calls waiting for a person, pending first; approved, rejected and
// expired ones a tab away. Editors and up decide with an optional comment; viewers see the same
// without the buttons. When someone else decided first (409 `approval_decided`), the card says so
// in words and shows how it was decided. The model's reason and arguments are shown as plain text:
// they may come from a web page the bot read. A pipeline's step (tool set `pipeline`) asks for its
// output to be approved: the card names the pipeline and the step and shows that output, rendered by
// the sanitising Markdown renderer like a run's output.

type Status = Approval['status']

const statusStyles: Record<Status, string> = {
  pending: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  approved: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  rejected: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  expired: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
}

function isStatus(value: string | null): value is Status {
  return (approvalStatuses as readonly string[]).includes(value ?? '')
}

export default function Approvals() {
  const { t } = useI18n()
  const client = useClient()
  const { query } = useLocation()
  const requested = query.get('status')
  const status: Status = isStatus(requested) ? requested : 'pending'
  const list = useInfiniteQuery({
    queryKey: ['approvals', 'list', status],
    queryFn: ({ pageParam }) =>
      client.approvals.list({ status, limit: 25, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '',
    getNextPageParam: (page) => page.nextCursor ?? undefined,
  })
  const items = list.data?.pages.flatMap((page) => page.items) ?? []
  const [outcome, setOutcome] = useState<Outcome | null>(null)

  return (
    <div>
      <PageTitle>{t('approvals.title')}</PageTitle>
      <p className="mb-4 max-w-3xl text-slate-700 dark:text-slate-300">{t('approvals.intro')}</p>
      <nav aria-label={t('approvals.filter')} className="mb-4">
        <ul className="flex flex-wrap gap-1">
          {approvalStatuses.map((s) => (
            <li key={s}>
              <Link
                href={s === 'pending' ? '/approvals' : `/approvals?status=${s}`}
                aria-current={s === status ? 'page' : undefined}
                className="block rounded-md border border-slate-300 px-3 py-1.5 text-sm text-slate-800 no-underline hover:bg-slate-100 aria-[current=page]:border-indigo-700 aria-[current=page]:bg-indigo-50 aria-[current=page]:font-medium aria-[current=page]:text-indigo-900 dark:border-slate-600 dark:text-slate-100 dark:hover:bg-slate-800 dark:aria-[current=page]:border-indigo-300 dark:aria-[current=page]:bg-indigo-950 dark:aria-[current=page]:text-indigo-100"
              >
                {t(`approvals.tab.${s}`)}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div aria-live="polite" className="mb-4 empty:hidden" data-testid="approval-outcome">
        {outcome && <OutcomeNote outcome={outcome} />}
      </div>
      <ErrorNote error={list.error} />
      {list.isLoading ? (
        <Loading />
      ) : items.length === 0 ? (
        <Empty title={t(`approvals.empty.${status}`)}>
          {status === 'pending' ? t('approvals.emptyHint') : null}
        </Empty>
      ) : (
        <ul className="space-y-4" aria-label={t(`approvals.tab.${status}`)}>
          {items.map((approval) => (
            <li key={approval.id}>
              <ApprovalCard approval={approval} onOutcome={setOutcome} />
            </li>
          ))}
        </ul>
      )}
      {list.hasNextPage && (
        <Button className="mt-4" busy={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
          {t('common.loadMore')}
        </Button>
      )}
    </div>
  )
}

/** One approval on a page of its own (the run page and, later, notifications link here). */
export function ApprovalDetail({ id }: { id: string }) {
  const { t } = useI18n()
  const client = useClient()
  const approval = useQuery({ queryKey: ['approvals', 'one', id], queryFn: () => client.approvals.get(id) })
  return (
    <div>
      <p className="mb-2 text-sm">
        <Link href="/approvals">← {t('approvals.back')}</Link>
      </p>
      <PageTitle>{t('approvals.one')}</PageTitle>
      {approval.isLoading ? (
        <Loading />
      ) : approval.data ? (
        <ApprovalCard approval={approval.data} />
      ) : (
        <ErrorNote error={approval.error} />
      )}
    </div>
  )
}

export function OutcomeNote({ outcome }: { outcome: Outcome }) {
  return (
    <p
      className={cx(
        'mt-3 rounded-md border p-3 text-sm',
        outcome.tone === 'ok'
          ? 'border-emerald-300 bg-emerald-50 text-emerald-950 dark:border-emerald-700 dark:bg-emerald-950 dark:text-emerald-50'
          : 'border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50',
      )}
    >
      {outcome.text}
    </p>
  )
}

function StatusPill({ status }: { status: Status }) {
  const { t } = useI18n()
  return (
    <span className={cx('rounded-full px-2 py-0.5 text-xs font-medium', statusStyles[status])}>
      {t(`approvals.status.${status}`)}
    </span>
  )
}

function decidedByWords(decidedBy: Approval['decidedBy']): MessageKey {
  if (decidedBy?.type === 'user') return 'approvals.by.user'
  if (decidedBy?.type === 'api_key') return 'approvals.by.api_key'
  return 'approvals.by.system'
}

/** What became of a decision, in words: shown on the card, or by the list (which drops decided cards). */
export interface Outcome {
  tone: 'ok' | 'warn'
  text: string
}

/** What a pipeline step's approval carries (`arguments`). */
interface PipelineApprovalArguments {
  step?: string
  bot?: string
  output?: unknown
}

/** The words of a card about what is approved: a tool call by its name, a pipeline step by its key. */
function subjectWords(approval: Approval, t: Translate) {
  const step = approval.tool
  if (approval.toolSet !== 'pipeline')
    return {
      approveLabel: t('approvals.approveLabel', { tool: approval.tool }),
      rejectLabel: t('approvals.rejectLabel', { tool: approval.tool }),
      approved: t('approvals.doneApproved', { tool: approval.tool }),
      rejected: t('approvals.doneRejected', { tool: approval.tool }),
      subject: approval.tool,
    }
  return {
    approveLabel: t('approvals.pipeline.approveLabel', { step }),
    rejectLabel: t('approvals.pipeline.rejectLabel', { step }),
    approved: t('approvals.pipeline.doneApproved', { step }),
    rejected: t('approvals.pipeline.doneRejected', { step }),
    subject: t('approvals.pipeline.subject', { step }),
  }
}

/** The name of the pipeline whose run asks: the run names the pipeline. */
function usePipelineName(approval: Approval): string | undefined {
  // The approval names its pipeline (the server keeps the name it had when the step asked).
  return approval.pipelineName ?? undefined
}

export function ApprovalCard({
  approval,
  onOutcome,
}: {
  approval: Approval
  /** The list page shows outcomes above itself: the card leaves the pending list once decided. */
  onOutcome?: (outcome: Outcome) => void
}) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const role = useMyRole()
  const headingId = useId()
  const [comment, setComment] = useState('')
  /** Set when this person's decision was refused because someone decided first. */
  const [late, setLate] = useState<Approval | null>(null)
  const [done, setDone] = useState<Approval | null>(null)
  const decide = useMutation({
    mutationFn: (action: 'approve' | 'reject') => {
      const decision = comment.trim() ? { comment: comment.trim() } : {}
      return action === 'approve'
        ? client.approvals.approve(approval.id, decision)
        : client.approvals.reject(approval.id, decision)
    },
    onSuccess: (decided) => {
      setDone(decided)
      queryClient.setQueryData(['approvals', 'one', approval.id], decided)
      const said = subjectWords(approval, t)
      onOutcome?.({ tone: 'ok', text: decided.status === 'approved' ? said.approved : said.rejected })
    },
    onError: async (error) => {
      if (!(error instanceof ApiError && error.code === 'approval_decided')) return
      const now = await client.approvals.get(approval.id).catch(() => null)
      setLate(now)
      onOutcome?.({ tone: 'warn', text: lateWords(now) })
    },
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ['approvals'] })
      void queryClient.invalidateQueries({ queryKey: ['run', approval.runId] })
    },
  })
  const shown = done ?? late ?? approval
  const isPipeline = approval.toolSet === 'pipeline'
  const words = subjectWords(approval, t)
  const pipelineName = usePipelineName(approval)
  const stepArguments = (isPipeline ? approval.arguments : null) as PipelineApprovalArguments | null
  const outputHtml = useMemo(() => {
    const text = stepArguments ? outputText(stepArguments.output) : ''
    return text ? renderMarkdown(text) : ''
  }, [stepArguments])
  const rows = argumentRows(approval.arguments)
  const canDecide = shown.status === 'pending' && mayOffer(role, 'editor')
  const decidedFirst = decide.error instanceof ApiError && decide.error.code === 'approval_decided'
  function lateWords(now: Approval | null): string {
    const tool = subjectWords(approval, t).subject
    return now && now.status !== 'pending'
      ? t('approvals.decidedFirstAs', { tool, status: t(`approvals.status.${now.status}`) })
      : t('approvals.decidedFirst', { tool })
  }

  return (
    <Card className="space-y-3">
      <article aria-labelledby={headingId} data-testid="approval">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
          {isPipeline ? (
            <h2 id={headingId} className="text-lg font-semibold break-words">
              {t('approvals.pipeline.heading', {
                name: pipelineName ?? t('approvals.pipeline.aPipeline'),
                step: approval.tool,
              })}
            </h2>
          ) : (
            <h2 id={headingId} className="text-lg font-semibold break-all">
              <span className="font-mono">{approval.tool}</span>
            </h2>
          )}
          <StatusPill status={shown.status} />
          {!isPipeline && (
            <span className="text-sm text-slate-700 dark:text-slate-300">
              {t('approvals.toolSet')} <span className="font-mono">{approval.toolSet}</span>
            </span>
          )}
        </div>
        <p className="mt-1 text-sm text-slate-700 dark:text-slate-300">
          {isPipeline ? (
            t('approvals.pipeline.bot', { bot: stepArguments?.bot ?? t('approvals.aBot') })
          ) : approval.botId ? (
            <Link href={`/bots/${encodeURIComponent(approval.botId)}`} className="underline">
              {approval.botName ?? t('approvals.aBot')}
            </Link>
          ) : (
            t('approvals.noBot')
          )}
          {' · '}
          <Link href={`/runs/${encodeURIComponent(approval.runId)}`} className="underline">
            {t('approvals.openRun')}
          </Link>
        </p>
        <dl className="mt-2 grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
          <div>
            <dt className="inline text-slate-600 dark:text-slate-400">{t('approvals.asked')} </dt>
            <dd className="inline">
              <time dateTime={approval.requestedAt} title={formatDateTime(approval.requestedAt, lang)}>
                {formatRelative(approval.requestedAt, lang)}
              </time>
            </dd>
          </div>
          {shown.status === 'pending' && (
            <div>
              <dt className="inline text-slate-600 dark:text-slate-400">{t('approvals.expires')} </dt>
              <dd className="inline">
                {approval.expiresAt ? (
                  <time dateTime={approval.expiresAt} title={formatDateTime(approval.expiresAt, lang)}>
                    {formatRelative(approval.expiresAt, lang)}
                  </time>
                ) : (
                  t('approvals.neverExpires')
                )}
              </dd>
            </div>
          )}
          {shown.decidedAt && (
            <div>
              <dt className="inline text-slate-600 dark:text-slate-400">{t('approvals.decided')} </dt>
              <dd className="inline">
                <time dateTime={shown.decidedAt} title={formatDateTime(shown.decidedAt, lang)}>
                  {formatRelative(shown.decidedAt, lang)}
                </time>{' '}
                {t(decidedByWords(shown.decidedBy))}
              </dd>
            </div>
          )}
        </dl>

        {isPipeline ? (
          <>
            <p className="mt-3 text-sm">{t('approvals.pipeline.reason', { step: approval.tool })}</p>
            <h3 className="mt-3 text-sm font-medium">{t('approvals.pipeline.output')}</h3>
            {outputHtml ? (
              // Sanitised by DOMPurify in renderMarkdown, and contained like a run's output (run-detail.tsx).
              <div
                className="markdown relative isolate mt-1 overflow-x-auto rounded border border-slate-200 p-3 text-sm [contain:content] dark:border-slate-700"
                data-testid="approval-output"
                // biome-ignore lint/security/noDangerouslySetInnerHtml: the HTML is sanitised (lib/markdown.ts)
                dangerouslySetInnerHTML={{ __html: outputHtml }}
              />
            ) : (
              <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{t('run.noOutput')}</p>
            )}
          </>
        ) : (
          <>
            <h3 className="mt-3 text-sm font-medium">{t('approvals.reason')}</h3>
            {approval.reason ? (
              <blockquote className="mt-1 border-l-4 border-slate-300 pl-3 text-sm whitespace-pre-wrap break-words dark:border-slate-600">
                {approval.reason}
              </blockquote>
            ) : (
              <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{t('approvals.noReason')}</p>
            )}

            <h3 className="mt-3 text-sm font-medium">{t('approvals.arguments')}</h3>
            {rows ? (
              <dl className="mt-1 grid grid-cols-[minmax(0,max-content)_1fr] gap-x-3 gap-y-1 text-sm">
                {rows.map(([name, value]) => (
                  <div key={name} className="contents">
                    <dt className="font-mono text-slate-700 break-all dark:text-slate-300">{name}</dt>
                    <dd className="font-mono whitespace-pre-wrap [overflow-wrap:anywhere]">{value}</dd>
                  </div>
                ))}
              </dl>
            ) : (
              <pre className="mt-1 max-h-80 overflow-auto rounded bg-slate-50 p-2 text-xs whitespace-pre-wrap [overflow-wrap:anywhere] dark:bg-slate-900">
                {formatArguments(approval.arguments) || t('tool.noArguments')}
              </pre>
            )}
          </>
        )}

        {shown.comment && (
          <>
            <h3 className="mt-3 text-sm font-medium">{t('approvals.comment')}</h3>
            <p className="mt-1 text-sm whitespace-pre-wrap break-words">{shown.comment}</p>
          </>
        )}

        {!onOutcome && (
          <div aria-live="polite">
            {done && (
              <OutcomeNote
                outcome={{ tone: 'ok', text: done.status === 'approved' ? words.approved : words.rejected }}
              />
            )}
            {decidedFirst && <OutcomeNote outcome={{ tone: 'warn', text: lateWords(late) }} />}
          </div>
        )}
        {!decidedFirst && <ErrorNote error={decide.error} className="mt-3" />}

        {canDecide && !done && !decidedFirst && (
          <div className="mt-3 space-y-2">
            <Field label={t('approvals.yourComment')} hint={t('approvals.yourCommentHint')}>
              {(props) => (
                <TextArea
                  {...props}
                  rows={2}
                  maxLength={2000}
                  value={comment}
                  onChange={(event) => setComment(event.target.value)}
                />
              )}
            </Field>
            <div className="flex flex-wrap gap-2">
              <Button
                variant="primary"
                busy={decide.isPending && decide.variables === 'approve'}
                disabled={decide.isPending}
                onClick={() => decide.mutate('approve')}
                aria-label={words.approveLabel}
              >
                {t('approvals.approve')}
              </Button>
              <Button
                variant="danger"
                busy={decide.isPending && decide.variables === 'reject'}
                disabled={decide.isPending}
                onClick={() => decide.mutate('reject')}
                aria-label={words.rejectLabel}
              >
                {t('approvals.reject')}
              </Button>
            </div>
          </div>
        )}
      </article>
    </Card>
  )
}
