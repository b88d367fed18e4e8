import { createClient, signedInFrom } from '@openorch/sdk'
import { type FormEvent, useState } from 'react'
import { Preferences } from '../components/preferences.tsx'
import { Button, ErrorNote, Field, TextInput } from '../components/ui.tsx'
import { useI18n } from '../lib/i18n.tsx'
import type { Session } from '../lib/session.ts'

// Sign-in: e-mail and password first (a user session, decision 0011), an API key second. Either is
// checked by the server before it is kept (sessionStorage). Errors say what happened in words:
// wrong password, too many attempts (and how long to wait), server unreachable.

export type SignInNotice = 'ended' | 'signedOut' | 'signedOutEverywhere'

export function SignIn({
  onSignedIn,
  notice,
}: {
  onSignedIn: (session: Session) => void
  notice?: SignInNotice | null
}) {
  const { t } = useI18n()
  const [withKey, setWithKey] = useState(false)

  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex justify-end gap-2 p-4">
        <Preferences />
      </header>
      <main id="main" className="mx-auto w-full max-w-md flex-1 px-4 pt-8 pb-12">
        <div className="mb-6 flex items-center gap-3">
          <img src="/icon.svg" alt="" width={40} height={40} />
          <h1 className="text-2xl font-semibold">{t('signIn.title')}</h1>
        </div>
        {notice && (
          <p
            role="status"
            className="mb-6 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
          >
            {t(`signIn.notice.${notice}`)}
          </p>
        )}
        {withKey ? <KeyForm onSignedIn={onSignedIn} /> : <PasswordForm onSignedIn={onSignedIn} />}
        <p className="mt-6 text-sm">
          <button
            type="button"
            onClick={() => setWithKey(!withKey)}
            className="text-indigo-800 underline hover:no-underline dark:text-indigo-300"
          >
            {withKey ? t('signIn.usePassword') : t('signIn.useKey')}
          </button>
        </p>
        <p className="mt-6 text-xs text-slate-600 dark:text-slate-400">{t('signIn.storage')}</p>
      </main>
    </div>
  )
}

function useSubmit(work: () => Promise<void>) {
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await work()
    } catch (caught) {
      setError(caught)
      setBusy(false)
    }
  }
  return { error, busy, submit }
}

function PasswordForm({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const { t } = useI18n()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const { error, busy, submit } = useSubmit(async () => {
    const anonymous = createClient({ baseUrl: window.location.origin, apiKey: '', retry: false })
    const session = await anonymous.auth.login({ email: email.trim(), password })
    onSignedIn({ kind: 'jwt', ...signedInFrom(session) })
  })
  return (
    <form onSubmit={submit} className="space-y-4" noValidate aria-label={t('signIn.withPassword')}>
      <p className="text-slate-700 dark:text-slate-300">{t('signIn.intro')}</p>
      <Field label={t('signIn.email')}>
        {(props) => (
          <TextInput
            {...props}
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
        )}
      </Field>
      <Field label={t('signIn.password')}>
        {(props) => (
          <TextInput
            {...props}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        )}
      </Field>
      <ErrorNote error={error} />
      <Button
        type="submit"
        variant="primary"
        busy={busy}
        disabled={email.trim() === '' || password === ''}
        className="w-full"
      >
        {t('signIn.submit')}
      </Button>
    </form>
  )
}

function KeyForm({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const { t } = useI18n()
  const [apiKey, setApiKey] = useState('')
  const { error, busy, submit } = useSubmit(async () => {
    const key = apiKey.trim()
    await createClient({ baseUrl: window.location.origin, apiKey: key, retry: false }).providers.list()
    onSignedIn({ kind: 'apiKey', apiKey: key })
  })
  return (
    <form onSubmit={submit} className="space-y-4" noValidate aria-label={t('signIn.withKey')}>
      <p className="text-slate-700 dark:text-slate-300">{t('signIn.keyIntro')}</p>
      <Field label={t('signIn.key')} hint={t('signIn.keyHint')}>
        {(props) => (
          <TextInput
            {...props}
            type="password"
            autoComplete="off"
            required
            value={apiKey}
            onChange={(event) => setApiKey(event.target.value)}
          />
        )}
      </Field>
      <ErrorNote error={error} />
      <Button type="submit" variant="primary" busy={busy} disabled={apiKey.trim() === ''} className="w-full">
        {t('signIn.submit')}
      </Button>
    </form>
  )
}
