import { type SearchSettingsPut, searchProviderNames } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { useClient, useSignedIn } from '../lib/api.tsx'
import { formatDateTime } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { searchSettingsApi } from '../lib/tools-api.ts'
import { ConfirmButton } from './confirm.tsx'
import { Button, Card, ErrorNote, Field, Loading, Select, TextInput } from './ui.tsx'

// The tool settings of the Providers page: the web search provider of the `search` tool set (checked
// with a real search before it is saved; the key never shown again), and which built-in functions
// wait for a person's approval.

type SearchProvider = (typeof searchProviderNames)[number]

const searchInfo: Record<
  SearchProvider,
  { label: string; needsKey: boolean; needsUrl: boolean; keyUrl: string }
> = {
  brave: {
    label: 'Brave Search',
    needsKey: true,
    needsUrl: false,
    keyUrl: 'https://api-dashboard.search.brave.com/',
  },
  tavily: { label: 'Tavily', needsKey: true, needsUrl: false, keyUrl: 'https://app.tavily.com/' },
  searxng: { label: 'SearXNG', needsKey: false, needsUrl: true, keyUrl: 'https://docs.searxng.org/' },
}

export function SearchSetup() {
  const { t, lang } = useI18n()
  const api = searchSettingsApi(useSignedIn())
  const queryClient = useQueryClient()
  const headingId = useId()
  const settings = useQuery({ queryKey: ['tools', 'search'], queryFn: () => api.get() })
  const [provider, setProvider] = useState<SearchProvider | null>(null)
  const [apiKey, setApiKey] = useState('')
  const [baseUrl, setBaseUrl] = useState<string | null>(null)
  const chosen: SearchProvider = provider ?? settings.data?.provider ?? 'brave'
  const info = searchInfo[chosen]
  const url = baseUrl ?? (settings.data?.provider === chosen ? (settings.data.baseUrl ?? '') : '')
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ['tools'] })
  }
  const save = useMutation({
    mutationFn: (body: SearchSettingsPut) => api.put(body),
    onSuccess: (saved) => {
      queryClient.setQueryData(['tools', 'search'], saved)
      setApiKey('')
      refresh()
    },
  })
  const remove = useMutation({
    mutationFn: () => api.remove(),
    onSuccess: () => {
      queryClient.setQueryData(['tools', 'search'], null)
      save.reset()
      refresh()
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    save.mutate({
      provider: chosen,
      ...(apiKey.trim() ? { apiKey: apiKey.trim() } : {}),
      ...(url.trim() ? { baseUrl: url.trim() } : {}),
    })
  }
  const current = settings.data
  return (
    <Card>
      <section aria-labelledby={headingId} className="space-y-3">
        <h3 id={headingId} className="flex items-center gap-2 text-xl font-semibold">
          <span aria-hidden="true">🔎</span> {t('search.setup.title')}
        </h3>
        <p className="text-slate-700 dark:text-slate-300">{t('search.setup.intro')}</p>
        {settings.isLoading ? (
          <Loading />
        ) : (
          <p className="text-sm" data-testid="search-state">
            {current
              ? t('search.setup.current', {
                  provider: searchInfo[current.provider].label,
                  when: formatDateTime(current.updatedAt, lang),
                })
              : t('search.setup.notSet')}
          </p>
        )}
        <ErrorNote error={settings.error} />
        <form onSubmit={submit} className="space-y-3" noValidate>
          <Field label={t('search.setup.provider')}>
            {(props) => (
              <Select
                {...props}
                value={chosen}
                onChange={(e) => {
                  setProvider(e.target.value as SearchProvider)
                  setBaseUrl(null)
                  save.reset()
                }}
              >
                {searchProviderNames.map((name) => (
                  <option key={name} value={name}>
                    {searchInfo[name].label}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <p className="text-sm text-slate-700 dark:text-slate-300">
            {t(`search.setup.about.${chosen}`)}{' '}
            <a href={info.keyUrl} target="_blank" rel="noopener noreferrer" className="underline">
              {t(info.needsKey ? 'search.setup.getKey' : 'search.setup.docs', { name: info.label })}
            </a>
          </p>
          {info.needsKey && (
            <Field
              label={t('search.setup.key', { name: info.label })}
              hint={
                current?.provider === chosen && current.keyHint
                  ? t('search.setup.keySaved', { hint: current.keyHint })
                  : t('provider.keyHint')
              }
            >
              {(props) => (
                <TextInput
                  {...props}
                  type="password"
                  autoComplete="off"
                  spellCheck={false}
                  value={apiKey}
                  onChange={(e) => setApiKey(e.target.value)}
                />
              )}
            </Field>
          )}
          <Field
            label={t('search.setup.baseUrl')}
            hint={info.needsUrl ? t('search.setup.baseUrlSearxng') : t('search.setup.baseUrlHint')}
          >
            {(props) => (
              <TextInput
                {...props}
                type="url"
                inputMode="url"
                placeholder={info.needsUrl ? 'https://search.example.org' : ''}
                value={url}
                onChange={(e) => setBaseUrl(e.target.value)}
              />
            )}
          </Field>
          <ErrorNote error={save.error} />
          <div aria-live="polite">
            {save.isSuccess && (
              <p className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-950 dark:border-emerald-700 dark:bg-emerald-950 dark:text-emerald-50">
                {t('search.setup.saved')}
              </p>
            )}
          </div>
          <div className="flex flex-wrap gap-2">
            <Button
              type="submit"
              variant="primary"
              busy={save.isPending}
              disabled={(info.needsKey && !apiKey.trim()) || (info.needsUrl && !url.trim())}
            >
              {save.isPending ? t('search.setup.testing') : t('provider.testAndSave')}
            </Button>
            {current && (
              <ConfirmButton
                label={t('search.setup.remove')}
                title={t('search.setup.removeTitle')}
                text={t('search.setup.removeText')}
                confirmLabel={t('search.setup.remove')}
                busy={remove.isPending}
                error={remove.error}
                onConfirm={async () => {
                  try {
                    await remove.mutateAsync()
                    return true
                  } catch {
                    return false
                  }
                }}
              />
            )}
          </div>
        </form>
      </section>
    </Card>
  )
}

/** Built-in functions whose calls wait for approval, and how long an approval may wait. */
export function ToolPolicyCard() {
  const { t } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const headingId = useId()
  const policy = useQuery({ queryKey: ['tools', 'policy'], queryFn: () => client.tools.policy() })
  const toolSets = useQuery({ queryKey: ['tools'], queryFn: () => client.tools.list() })
  const [chosen, setChosen] = useState<string[] | null>(null)
  const [hours, setHours] = useState<string | null>(null)
  const save = useMutation({
    mutationFn: () => {
      const text = (hours ?? hoursOf(policy.data?.expiresAfterSeconds ?? null)).trim()
      return client.tools.setPolicy({
        requireApproval: chosen ?? policy.data?.requireApproval ?? [],
        expiresAfterSeconds: text === '' ? null : Math.round(Number(text.replace(',', '.')) * 3600),
      })
    },
    onSuccess: (saved) => {
      queryClient.setQueryData(['tools', 'policy'], saved)
      setChosen(null)
      setHours(null)
      void queryClient.invalidateQueries({ queryKey: ['tools'] })
    },
  })
  if (policy.isLoading || toolSets.isLoading) return <Loading />
  const required = chosen ?? policy.data?.requireApproval ?? []
  // Built-in sets only: an MCP server's tools wait for approval by its own setting.
  const builtIn = (toolSets.data?.items ?? []).filter((set) => !set.name.startsWith('mcp:'))
  return (
    <Card>
      <section aria-labelledby={headingId} className="space-y-3">
        <h3 id={headingId} className="flex items-center gap-2 text-xl font-semibold">
          <span aria-hidden="true">✋</span> {t('policy.title')}
        </h3>
        <p className="text-slate-700 dark:text-slate-300">{t('policy.intro')}</p>
        <ErrorNote error={policy.error ?? toolSets.error} />
        <form
          onSubmit={(event) => {
            event.preventDefault()
            save.mutate()
          }}
          className="space-y-3"
          noValidate
        >
          {builtIn.map((set) => (
            <fieldset key={set.name}>
              <legend className="font-mono text-sm font-medium">{set.name}</legend>
              <ul className="mt-1 grid gap-1 sm:grid-cols-2">
                {set.functions.map((fn) => {
                  // Always waits (files_delete): shown checked, not changeable here.
                  const always =
                    set.needsApproval.includes(fn.name) && !policy.data?.requireApproval.includes(fn.name)
                  return (
                    <li key={fn.name}>
                      <label className="flex items-center gap-2 text-sm">
                        <input
                          type="checkbox"
                          className="h-4 w-4"
                          checked={always || required.includes(fn.name)}
                          disabled={always}
                          onChange={(e) =>
                            setChosen(
                              e.target.checked
                                ? [...required, fn.name]
                                : required.filter((name) => name !== fn.name),
                            )
                          }
                        />
                        <span className="font-mono break-all">{fn.name}</span>
                        {always && (
                          <span className="text-xs text-slate-600 dark:text-slate-400">
                            {t('policy.always')}
                          </span>
                        )}
                      </label>
                    </li>
                  )
                })}
              </ul>
            </fieldset>
          ))}
          <Field label={t('policy.expires')} hint={t('policy.expiresHint')}>
            {(props) => (
              <TextInput
                {...props}
                type="number"
                min={0.02}
                step="any"
                inputMode="decimal"
                className="max-w-40"
                value={hours ?? hoursOf(policy.data?.expiresAfterSeconds ?? null)}
                onChange={(e) => setHours(e.target.value)}
              />
            )}
          </Field>
          <ErrorNote error={save.error} />
          <div aria-live="polite">
            {save.isSuccess && chosen === null && hours === null && (
              <p className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-950 dark:border-emerald-700 dark:bg-emerald-950 dark:text-emerald-50">
                {t('policy.saved')}
              </p>
            )}
          </div>
          <Button type="submit" variant="primary" busy={save.isPending}>
            {t('policy.save')}
          </Button>
        </form>
      </section>
    </Card>
  )
}

/** Seconds as hours for the field ('' for no expiry). */
function hoursOf(seconds: number | null): string {
  if (seconds === null) return ''
  return String(Math.round((seconds / 3600) * 100) / 100)
}
