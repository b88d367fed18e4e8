import { useQuery, useQueryClient } from '@tanstack/react-query'
import { BotForm, type BotFormValues, browserTimeZone } from '../components/bot-form.tsx'
import { cx, Loading, PageTitle } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { botTemplates } from '../lib/catalog.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, navigate, useLocation } from '../lib/router.tsx'

// A new bot from a template (or blank): pick one, adjust the form, create.

export default function NewBot() {
  const { t } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const { query } = useLocation()
  const templateId = query.get('template')
  const template = botTemplates.find((tpl) => tpl.id === templateId)
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => client.providers.list() })
  if (providers.isLoading) return <Loading />
  const provider = providers.data?.items.find((p) => p.status === 'valid') ?? providers.data?.items[0]

  const initial: BotFormValues = {
    name: template ? t(template.name) : '',
    emoji: template?.emoji ?? '🤖',
    description: template ? t(template.description) : '',
    prompt: template ? t(template.prompt) : '',
    provider: provider?.name ?? 'openai',
    model: provider?.defaultModel ?? provider?.models[0] ?? '',
    schedule: template ? template.schedule : null,
    timezone: browserTimeZone(),
    enabled: true,
    maxRuntimeSeconds: template?.settings.maxRuntimeSeconds ?? 120,
    maxRetries: template?.settings.maxRetries ?? 1,
    dailyBudgetUsd: null,
    maxCostPerRunUsd: null,
    tools: template?.settings.tools ?? [],
    fallbacks: [],
    onComplete: [],
  }

  return (
    <div className="mx-auto max-w-3xl">
      <PageTitle>{t('newBot.title')}</PageTitle>
      <nav aria-label={t('newBot.templates')} className="mb-6">
        <h2 className="mb-2 text-sm font-medium">{t('newBot.templates')}</h2>
        <ul className="flex flex-wrap gap-2">
          {botTemplates.map((tpl) => (
            <li key={tpl.id}>
              <Link
                href={`/bots/new?template=${tpl.id}`}
                aria-current={tpl.id === templateId ? 'true' : undefined}
                className={cx(
                  'inline-block rounded-full border px-3 py-1 text-sm no-underline',
                  tpl.id === templateId
                    ? 'border-indigo-600 bg-indigo-50 text-indigo-900 dark:bg-indigo-950 dark:text-indigo-100'
                    : 'border-slate-300 text-slate-800 dark:border-slate-600 dark:text-slate-200',
                )}
              >
                <span aria-hidden="true">{tpl.emoji}</span> {t(tpl.name)}
              </Link>
            </li>
          ))}
          <li>
            <Link
              href="/bots/new"
              aria-current={!template ? 'true' : undefined}
              className="inline-block rounded-full border border-slate-300 px-3 py-1 text-sm text-slate-800 no-underline dark:border-slate-600 dark:text-slate-200"
            >
              {t('newBot.blank')}
            </Link>
          </li>
        </ul>
      </nav>
      <BotForm
        key={templateId ?? 'blank'}
        initial={initial}
        submitLabel={t('newBot.create')}
        onSubmit={async (values) => {
          const bot = await client.bots.create({ ...values, ...template?.settings, ...values })
          await queryClient.invalidateQueries({ queryKey: ['bots'] })
          navigate(`/bots/${encodeURIComponent(bot.id)}`)
        }}
      />
    </div>
  )
}
