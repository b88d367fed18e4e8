import { createClient } from '@openorch/sdk'
import { type FormEvent, useState } from 'react'
import { Preferences } from '../components/preferences.tsx'
import { Button, ErrorNote, Field, TextInput } from '../components/ui.tsx'
import { useI18n } from '../lib/i18n.tsx'
import type { Session } from '../lib/session.ts'

// Sign-in with an API key. The key is checked with a real call before it is kept (sessionStorage).
// User accounts (dashboard sessions) will add a second form here; the Session type has room for it.

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const { t } = useI18n()
  const [apiKey, setApiKey] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const key = apiKey.trim()
      await createClient({ baseUrl: window.location.origin, apiKey: key }).providers.list()
      onSignedIn({ kind: 'apiKey', apiKey: key })
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex justify-end gap-2 p-4">
        <Preferences />
      </header>
      <main id="main" className="mx-auto w-full max-w-md flex-1 px-4 pt-8">
        <div className="mb-6 flex items-center gap-3">
          <img src="/icon.svg" alt="" width={40} height={40} />
          <h1 className="text-2xl font-semibold">{t('signIn.title')}</h1>
        </div>
        <p className="mb-6 text-slate-700 dark:text-slate-300">{t('signIn.intro')}</p>
        <form onSubmit={submit} className="space-y-4" noValidate>
          <Field label={t('signIn.key')} hint={t('signIn.keyHint')}>
            {(props) => (
              <TextInput
                {...props}
                type="password"
                autoComplete="current-password"
                required
                value={apiKey}
                onChange={(event) => setApiKey(event.target.value)}
              />
            )}
          </Field>
          <ErrorNote error={error} />
          <Button
            type="submit"
            variant="primary"
            busy={busy}
            disabled={apiKey.trim() === ''}
            className="w-full"
          >
            {t('signIn.submit')}
          </Button>
        </form>
        <p className="mt-6 text-xs text-slate-600 dark:text-slate-400">{t('signIn.storage')}</p>
      </main>
    </div>
  )
}
