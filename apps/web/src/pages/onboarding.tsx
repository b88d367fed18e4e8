import type { ProviderName } from '@openorch/contracts'
import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { ProviderSetup } from '../components/provider-setup.tsx'
import { Button, Card, cx } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { botTemplates, providerCatalog } from '../lib/catalog.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Link, navigate } from '../lib/router.tsx'

// First visit with no provider: choose a provider, test and save its key, create the first bot.

type Step = 1 | 2 | 3

export default function Onboarding() {
  const { t } = useI18n()
  const [step, setStep] = useState<Step>(1)
  const [chosen, setChosen] = useState<ProviderName | null>(null)
  const info = providerCatalog.find((p) => p.name === chosen)
  const steps: { n: Step; label: string }[] = [
    { n: 1, label: t('onboarding.step.provider') },
    { n: 2, label: t('onboarding.step.key') },
    { n: 3, label: t('onboarding.step.bot') },
  ]

  return (
    <div className="mx-auto max-w-4xl">
      <h1 className="text-2xl font-semibold">{t('onboarding.title')}</h1>
      <p className="mt-1 text-slate-700 dark:text-slate-300">{t('onboarding.intro')}</p>
      <ol className="my-6 flex flex-wrap gap-2" aria-label={t('onboarding.progress')}>
        {steps.map((s) => (
          <li
            key={s.n}
            aria-current={s.n === step ? 'step' : undefined}
            className={cx(
              'rounded-full px-3 py-1 text-sm',
              s.n === step
                ? 'bg-indigo-700 text-white dark:bg-indigo-400 dark:text-slate-950'
                : 'bg-slate-200 text-slate-800 dark:bg-slate-800 dark:text-slate-200',
            )}
          >
            {s.n}. {s.label}
          </li>
        ))}
      </ol>

      {step === 1 && (
        <section aria-labelledby="choose-heading">
          <h2 id="choose-heading" className="mb-3 text-lg font-semibold">
            {t('onboarding.choose')}
          </h2>
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
            {providerCatalog.map((p) => (
              <li key={p.name}>
                <button
                  type="button"
                  onClick={() => {
                    setChosen(p.name)
                    setStep(2)
                  }}
                  className="h-full w-full rounded-lg border border-slate-200 bg-white p-4 text-left shadow-sm hover:border-indigo-500 dark:border-slate-700 dark:bg-slate-800"
                >
                  <span className="flex items-center gap-2 text-lg font-semibold">
                    <span aria-hidden="true">{p.emoji}</span> {p.label}
                  </span>
                  <span className="mt-2 block text-sm text-slate-700 dark:text-slate-300">{t(p.cost)}</span>
                </button>
              </li>
            ))}
          </ul>
          <p className="mt-6 text-sm">
            <button
              type="button"
              className="text-indigo-700 underline dark:text-indigo-300"
              onClick={() => {
                sessionStorage.setItem('openorch.onboarding.skipped', '1')
                navigate('/')
              }}
            >
              {t('onboarding.skip')}
            </button>
          </p>
        </section>
      )}

      {step === 2 && info && (
        <Card>
          <ProviderSetup info={info} onSaved={() => undefined} />
          <div className="mt-6 flex flex-wrap gap-2">
            <Button onClick={() => setStep(1)}>{t('common.back')}</Button>
            <ContinueWhenSaved name={info.name} onContinue={() => setStep(3)} />
          </div>
        </Card>
      )}

      {step === 3 && (
        <section aria-labelledby="first-bot-heading">
          <h2 id="first-bot-heading" className="mb-1 text-lg font-semibold">
            {t('onboarding.firstBot')}
          </h2>
          <p className="mb-4 text-slate-700 dark:text-slate-300">{t('onboarding.firstBotIntro')}</p>
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
            {botTemplates.map((template) => (
              <li key={template.id}>
                <Link
                  href={`/bots/new?template=${template.id}`}
                  className="block h-full rounded-lg border border-slate-200 bg-white p-4 text-slate-900 no-underline shadow-sm hover:border-indigo-500 dark:border-slate-700 dark:bg-slate-800 dark:text-slate-100"
                >
                  <span className="flex items-center gap-2 font-semibold">
                    <span aria-hidden="true">{template.emoji}</span> {t(template.name)}
                  </span>
                  <span className="mt-1 block text-sm text-slate-700 dark:text-slate-300">
                    {t(template.description)}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  )
}

function ContinueWhenSaved({ name, onContinue }: { name: ProviderName; onContinue: () => void }) {
  const { t } = useI18n()
  const saved = useProviderSaved(name)
  return (
    <Button variant="primary" disabled={!saved} onClick={onContinue}>
      {t('onboarding.continue')}
    </Button>
  )
}

function useProviderSaved(name: ProviderName): boolean {
  const client = useClient()
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => client.providers.list() })
  return providers.data?.items.some((p) => p.name === name && p.status === 'valid') ?? false
}
