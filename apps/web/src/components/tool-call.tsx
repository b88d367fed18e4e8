import { useQuery } from '@tanstack/react-query'
import { useId, useRef } from 'react'
import { useSignedIn } from '../lib/api.tsx'
import { formatDuration, formatNumber } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { formatArguments, type ToolCall } from '../lib/tool-calls.ts'
import { botFileDataUrl, isImageFile } from '../lib/tools-api.ts'
import { Button } from './ui.tsx'

// One tool call in a run's timeline: name, outcome and duration at a glance; opened, its arguments,
// the start of its result and its error. A picture it made (a screenshot) is shown as a thumbnail
// that opens full size. Everything here came from a model or a web page: shown as text, never HTML.

const outcomeStyles = {
  started: 'bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100',
  completed: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
} as const

const outcomeIcons = { started: '⏳', completed: '✅', failed: '⚠️' } as const

export function ToolCallItem({
  call,
  at,
  botId,
}: {
  call: ToolCall
  at?: string | undefined
  botId: string | null
}) {
  const { t, lang } = useI18n()
  const args = formatArguments(call.arguments)
  const block =
    'mt-1 max-h-80 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs whitespace-pre-wrap [overflow-wrap:anywhere] dark:bg-slate-900'
  return (
    <div
      className="my-1 rounded-md border border-slate-200 font-sans text-sm dark:border-slate-700"
      data-testid="tool-call"
    >
      <details className="group">
        <summary className="flex cursor-pointer list-none flex-wrap items-center gap-x-2 gap-y-1 px-2 py-1.5 [&::-webkit-details-marker]:hidden">
          <span
            aria-hidden="true"
            className="text-xs text-slate-600 transition-transform group-open:rotate-90 dark:text-slate-400"
          >
            ▶
          </span>
          {at && (
            <time dateTime={at} className="font-mono text-xs text-slate-600 dark:text-slate-400">
              {new Date(at).toLocaleTimeString(lang)}
            </time>
          )}
          <span className="sr-only">{t('tool.call')}</span>
          <span className="font-mono font-medium break-all">{call.tool}</span>
          <span
            className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${outcomeStyles[call.status]}`}
          >
            <span aria-hidden="true">{outcomeIcons[call.status]}</span>
            {t(`tool.status.${call.status}`)}
          </span>
          {call.durationMs !== undefined && (
            <span className="text-xs text-slate-600 dark:text-slate-400">
              {formatDuration(call.durationMs, lang)}
            </span>
          )}
        </summary>
        <div className="space-y-3 border-t border-slate-200 px-2 py-2 dark:border-slate-700">
          <div>
            <p className="text-xs font-medium text-slate-700 dark:text-slate-300">{t('tool.arguments')}</p>
            {args ? (
              <pre className={block}>{args}</pre>
            ) : (
              <p className="text-xs text-slate-600 dark:text-slate-400">{t('tool.noArguments')}</p>
            )}
          </div>
          {call.error && (
            <div>
              <p className="text-xs font-medium text-red-800 dark:text-red-200">
                {t('tool.error')} <span className="font-mono">{call.error.code}</span>
              </p>
              <p className="mt-1 text-sm break-words text-red-900 dark:text-red-100">{call.error.message}</p>
            </div>
          )}
          {call.result !== undefined && (
            <div>
              <p className="text-xs font-medium text-slate-700 dark:text-slate-300">
                {call.resultChars !== undefined && call.resultChars > call.result.length
                  ? t('tool.resultPreview', {
                      shown: formatNumber(call.result.length, lang),
                      total: formatNumber(call.resultChars, lang),
                    })
                  : t('tool.result')}
              </p>
              <pre className={block}>{call.result}</pre>
            </div>
          )}
          {call.result === undefined && call.resultChars !== undefined && !call.error && (
            <p className="text-xs text-slate-600 dark:text-slate-400">
              {t('tool.resultSize', { n: formatNumber(call.resultChars, lang) })}
            </p>
          )}
          {call.status === 'started' && (
            <p className="text-xs text-slate-600 dark:text-slate-400">{t('tool.running')}</p>
          )}
        </div>
      </details>
      {call.file && (
        <div className="border-t border-slate-200 px-2 py-2 dark:border-slate-700">
          {botId && isImageFile(call.file) ? (
            <BotFileImage botId={botId} name={call.file} />
          ) : (
            <p className="text-xs">
              {t('tool.file')} <span className="font-mono">{call.file}</span>
            </p>
          )}
        </div>
      )}
    </div>
  )
}

/** A bot's picture: fetched with the session's credentials, a thumbnail that opens full size. */
export function BotFileImage({ botId, name }: { botId: string; name: string }) {
  const { t } = useI18n()
  const signedIn = useSignedIn()
  const dialog = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const image = useQuery({
    queryKey: ['bot-file', botId, name],
    queryFn: () => botFileDataUrl(signedIn, botId, name),
    staleTime: Number.POSITIVE_INFINITY,
  })
  const alt = t('tool.picture', { name })
  if (image.isLoading)
    return <p className="text-xs text-slate-600 dark:text-slate-400">{t('common.loading')}</p>
  if (!image.data)
    return (
      <p className="text-xs text-slate-700 dark:text-slate-300">
        {t('tool.pictureMissing')} <span className="font-mono">{name}</span>
      </p>
    )
  return (
    <>
      <button
        type="button"
        className="block rounded border border-slate-300 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 dark:border-slate-600"
        onClick={() => dialog.current?.showModal()}
        aria-label={t('tool.openPicture', { name })}
      >
        <img src={image.data} alt={alt} className="max-h-40 max-w-full rounded object-contain" />
      </button>
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: Escape closes a modal dialog natively; the click is only the backdrop's */}
      <dialog
        ref={dialog}
        aria-labelledby={titleId}
        className="m-auto max-h-[95vh] max-w-[95vw] rounded-lg bg-white p-4 text-slate-900 backdrop:bg-black/70 dark:bg-slate-800 dark:text-slate-100"
        onClick={(event) => {
          // A click on the backdrop (the dialog itself, outside its content) closes it.
          if (event.target === dialog.current) dialog.current?.close()
        }}
      >
        <div className="mb-2 flex items-center justify-between gap-4">
          <h2 id={titleId} className="font-mono text-sm break-all">
            {name}
          </h2>
          <Button autoFocus onClick={() => dialog.current?.close()}>
            {t('tool.closePicture')}
          </Button>
        </div>
        <img src={image.data} alt={alt} className="max-h-[80vh] max-w-full object-contain" />
      </dialog>
    </>
  )
}
