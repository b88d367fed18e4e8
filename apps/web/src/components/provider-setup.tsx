import type { Provider, ProviderValidation } from '@openorch/contracts'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { useClient } from '../lib/api.tsx'
import type { ProviderInfo } from '../lib/catalog.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Button, ErrorNote, Field, Select, TextInput } from './ui.tsx'

// One provider: what it costs, how to get a key, the key field and "Test & save". The server checks
// the key with a real call; a refusal comes back with its exact reason (provider_auth, …).

export function ProviderSetup({
  info,
  existing,
  onSaved,
}: {
  info: ProviderInfo
  existing?: Provider | undefined
  onSaved?: (result: ProviderValidation) => void
}) {
  const { t } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const [apiKey, setApiKey] = useState('')
  const [baseUrl, setBaseUrl] = useState(existing?.baseUrl ?? '')
  const [models, setModels] = useState<string[] | null>(existing?.models ?? null)
  const [defaultModel, setDefaultModel] = useState(existing?.defaultModel ?? info.recommendedModel)

  const save = useMutation({
    mutationFn: async (model: string) => {
      const config = {
        ...(apiKey.trim() ? { apiKey: apiKey.trim() } : {}),
        baseUrl: baseUrl.trim() || null,
        defaultModel: model,
      }
      let result = await client.providers.configure(info.name, config)
      // The recommended model may not be offered to this key: take the first one it may use.
      if (result.models.length > 0 && !result.models.includes(model)) {
        const first = result.models[0]!
        result = await client.providers.configure(info.name, { ...config, defaultModel: first })
        setDefaultModel(first)
      }
      return result
    },
    onSuccess: async (result) => {
      setModels(result.models)
      await queryClient.invalidateQueries({ queryKey: ['providers'] })
      onSaved?.(result)
    },
  })

  const submit = (event: FormEvent) => {
    event.preventDefault()
    save.mutate(defaultModel)
  }
  const headingId = `provider-${info.name}-heading`

  return (
    <section aria-labelledby={headingId} className="space-y-4">
      <h2 id={headingId} className="flex items-center gap-2 text-xl font-semibold">
        <span aria-hidden="true">{info.emoji}</span> {info.label}
      </h2>
      <p className="text-slate-700 dark:text-slate-300">{t(info.cost)}</p>
      <div>
        <h3 className="font-medium">{t('provider.stepsTitle')}</h3>
        <ol className="mt-1 list-inside list-decimal space-y-1 text-sm text-slate-700 dark:text-slate-300">
          {info.steps.map((step) => (
            <li key={step}>{t(step)}</li>
          ))}
        </ol>
        <p className="mt-2 flex flex-wrap gap-4 text-sm">
          <a href={info.keyUrl} target="_blank" rel="noopener noreferrer">
            {info.needsKey ? t('provider.getKey', { name: info.label }) : t('provider.download')}
          </a>
          <a href={info.pricingUrl} target="_blank" rel="noopener noreferrer">
            {t('provider.pricing', { name: info.label })}
          </a>
        </p>
      </div>
      <form onSubmit={submit} className="space-y-3" noValidate>
        {info.needsKey && (
          <Field
            label={t('provider.key', { name: info.label })}
            hint={
              existing?.keyHint ? t('provider.keySaved', { hint: existing.keyHint }) : t('provider.keyHint')
            }
          >
            {(props) => (
              <TextInput
                {...props}
                type="password"
                autoComplete="off"
                spellCheck={false}
                placeholder={info.keyPlaceholder}
                value={apiKey}
                onChange={(event) => setApiKey(event.target.value)}
              />
            )}
          </Field>
        )}
        <details className="text-sm" open={!info.needsKey || undefined}>
          <summary className="cursor-pointer text-slate-700 dark:text-slate-300">
            {t('provider.advanced')}
          </summary>
          <div className="mt-2">
            <Field label={t('provider.baseUrl')} hint={t('provider.baseUrlHint')}>
              {(props) => (
                <TextInput
                  {...props}
                  type="url"
                  inputMode="url"
                  placeholder={info.name === 'ollama' ? 'http://localhost:11434' : ''}
                  value={baseUrl}
                  onChange={(event) => setBaseUrl(event.target.value)}
                />
              )}
            </Field>
          </div>
        </details>
        <ErrorNote error={save.error} />
        <Button
          type="submit"
          variant="primary"
          busy={save.isPending}
          disabled={info.needsKey && !apiKey.trim() && !existing?.keyHint}
        >
          {save.isPending ? t('provider.testing') : t('provider.testAndSave')}
        </Button>
      </form>
      {save.isSuccess && models && (
        <div
          role="status"
          className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-700 dark:bg-emerald-950"
        >
          <p className="font-medium text-emerald-900 dark:text-emerald-100">
            {t('provider.saved', { count: models.length })}
          </p>
        </div>
      )}
      {models && models.length > 0 && (
        <Field label={t('provider.defaultModel')} hint={t('provider.defaultModelHint')}>
          {(props) => (
            <Select
              {...props}
              value={defaultModel}
              onChange={(event) => {
                setDefaultModel(event.target.value)
                if (apiKey.trim() || existing || save.isSuccess) save.mutate(event.target.value)
              }}
            >
              {(models.includes(defaultModel) ? models : [defaultModel, ...models]).map((model) => (
                <option key={model} value={model}>
                  {model}
                </option>
              ))}
            </Select>
          )}
        </Field>
      )}
    </section>
  )
}
