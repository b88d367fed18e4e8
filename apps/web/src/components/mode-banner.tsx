import { useQuery } from '@tanstack/react-query'
import { useClient } from '../lib/api.tsx'
import { useI18n } from '../lib/i18n.tsx'

// The installation's operating mode (issue 16) as a banner over every page while it is not normal:
// people should know why their bots wait. Read every 30 s; the mode changes rarely.
export function ModeBanner() {
  const { t } = useI18n()
  const client = useClient()
  const mode = useQuery({
    queryKey: ['system', 'mode'],
    queryFn: () => client.system.mode(),
    refetchInterval: 30_000,
  })
  const current = mode.data
  if (!current || current.mode === 'normal') return null
  const text =
    current.mode === 'paused'
      ? t('mode.paused')
      : t('mode.degraded', { level: String(current.minPriority ?? 1) })
  return (
    <div
      role="status"
      data-testid="mode-banner"
      className="border-b border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50"
    >
      <p className="mx-auto max-w-6xl px-4 py-2 text-sm">
        <span aria-hidden="true">{current.mode === 'paused' ? '⏸️ ' : '⚠️ '}</span>
        <strong>{text}</strong>
        {current.reason ? <span> — {current.reason}</span> : null}
      </p>
    </div>
  )
}
