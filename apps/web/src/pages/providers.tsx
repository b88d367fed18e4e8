import { useQuery } from '@tanstack/react-query'
import { useEffect } from 'react'
import { ProviderSetup } from '../components/provider-setup.tsx'
import { SearchSetup, ToolPolicyCard } from '../components/tool-settings.tsx'
import { Card, ErrorNote, Loading, PageTitle } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { providerCatalog } from '../lib/catalog.ts'
import { useI18n } from '../lib/i18n.tsx'

// Every provider with its state; each can be set up, re-keyed or pointed at another base URL. Below
// them the tools' settings: the web search provider and which built-in calls wait for approval.

export default function Providers() {
  const { t } = useI18n()
  const client = useClient()
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => client.providers.list() })
  // The bot form's "Set up web search" leads to /providers#tools: once the page is there, go to it.
  useEffect(() => {
    if (!providers.isLoading && window.location.hash === '#tools')
      document.getElementById('tools')?.scrollIntoView()
  }, [providers.isLoading])
  if (providers.isLoading) return <Loading />
  return (
    <div>
      <PageTitle>{t('providers.title')}</PageTitle>
      <ErrorNote error={providers.error} />
      <ul className="grid gap-4 lg:grid-cols-2">
        {providerCatalog.map((info) => {
          const existing = providers.data?.items.find((p) => p.name === info.name)
          return (
            <li key={info.name}>
              <Card>
                <p className="mb-2 text-sm">
                  {existing
                    ? existing.status === 'valid'
                      ? t('providers.valid')
                      : t('providers.failing', { code: existing.lastErrorCode ?? '' })
                    : t('providers.notSet')}
                </p>
                <ProviderSetup info={info} existing={existing} />
              </Card>
            </li>
          )
        })}
      </ul>
      <h2 className="mt-8 mb-4 text-2xl font-semibold text-slate-900 dark:text-white" id="tools">
        {t('providers.tools')}
      </h2>
      <div className="grid gap-4 lg:grid-cols-2">
        <SearchSetup />
        <ToolPolicyCard />
      </div>
    </div>
  )
}
