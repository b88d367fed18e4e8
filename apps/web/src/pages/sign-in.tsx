import { createClient, signedInFrom } from '@openorch/sdk'
import { type FormEvent, useEffect, useState } from 'react'
import { Preferences } from '../components/preferences.tsx'
import { Button, ErrorNote, Field, Loading, TextInput } from '../components/ui.tsx'
import { fieldRefusal } from '../lib/errors.ts'
import { useI18n } from '../lib/i18n.tsx'
import type { Session } from '../lib/session.ts'

// Sign-in: e-mail and password first (a user session, decision 0011), an API key second. Either is
// checked by the server before it is kept (sessionStorage). Errors say what happened in words:
// wrong password, too many attempts (and how long to wait), server unreachable.
// First start (decision 0020): an installation without users has only the owner key it printed, so
// the page asks for that key and offers to create the first account with it (GET /auth/setup).

type Mode = 'password' | 'key' | 'first'

const anonymousClient = () => createClient({ baseUrl: window.location.origin, apiKey: '', retry: false })

/** Whether the installation has users; undefined while asking, true when the answer fails. */
function useHasUsers(): boolean | undefined {
  const [hasUsers, setHasUsers] = useState<boolean | undefined>(undefined)
  useEffect(() => {
    let current = true
    anonymousClient()
      .auth.setup()
      .then(
        (state) => current && setHasUsers(state.hasUsers),
        // An older server or a network error: the usual sign-in, which explains itself.
        () => current && setHasUsers(true),
      )
    return () => {
      current = false
    }
  }, [])
  return hasUsers
}

export type SignInNotice = 'ended' | 'signedOut' | 'signedOutEverywhere'

export function SignIn({
  onSignedIn,
  notice,
}: {
  onSignedIn: (session: Session) => void
  notice?: SignInNotice | null
}) {
  const { t } = useI18n()
  const hasUsers = useHasUsers()
  const [chosen, setChosen] = useState<Mode | null>(null)
  const mode: Mode = chosen ?? (hasUsers === false ? 'first' : 'password')
  const switchTo = (next: Mode, label: string) => (
    <button
      type="button"
      onClick={() => setChosen(next)}
      className="text-indigo-800 underline hover:no-underline dark:text-indigo-300"
    >
      {label}
    </button>
  )

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
        {hasUsers === undefined && chosen === null ? (
          <Loading />
        ) : (
          <>
            {mode === 'first' && <FirstAccountForm onSignedIn={onSignedIn} />}
            {mode === 'key' && <KeyForm onSignedIn={onSignedIn} />}
            {mode === 'password' && <PasswordForm onSignedIn={onSignedIn} />}
            <ul className="mt-6 space-y-2 text-sm">
              {mode !== 'password' && hasUsers !== false && (
                <li>{switchTo('password', t('signIn.usePassword'))}</li>
              )}
              {mode === 'password' && <li>{switchTo('key', t('signIn.useKey'))}</li>}
              {mode === 'first' && <li>{switchTo('key', t('signIn.first.keyOnly'))}</li>}
              {mode !== 'first' && hasUsers === false && (
                <li>{switchTo('first', t('signIn.first.offer'))}</li>
              )}
              {mode === 'first' && <li>{switchTo('password', t('signIn.first.haveAccount'))}</li>}
            </ul>
          </>
        )}
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
    const session = await anonymousClient().auth.login({ email: email.trim(), password })
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

/**
 * First start: the owner key creates the first account (an owner of the default workspace, who is
 * an installation admin), then that account signs in. A wrong key is said at the key field.
 */
function FirstAccountForm({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const { t } = useI18n()
  const [apiKey, setApiKey] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const { error, busy, submit } = useSubmit(async () => {
    const withKey = createClient({ baseUrl: window.location.origin, apiKey: apiKey.trim(), retry: false })
    await withKey.users.create({ email: email.trim(), password, role: 'owner' })
    const session = await anonymousClient().auth.login({ email: email.trim(), password })
    onSignedIn({ kind: 'jwt', ...signedInFrom(session) })
  })
  const emailReason = fieldRefusal(error, 'email', t)
  const passwordReason = fieldRefusal(error, 'password', t)
  return (
    <form onSubmit={submit} className="space-y-4" noValidate aria-label={t('signIn.first.title')}>
      <h2 className="text-lg font-semibold">{t('signIn.first.title')}</h2>
      <p className="text-slate-700 dark:text-slate-300">{t('signIn.first.intro')}</p>
      <Field label={t('signIn.first.key')} hint={t('signIn.keyHint')}>
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
      <Field label={t('signIn.email')} error={emailReason}>
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
      <Field
        label={t('signIn.first.password')}
        hint={t('account.newHint')}
        error={passwordReason ? t('team.passwordRefused', { reason: passwordReason }) : undefined}
      >
        {(props) => (
          <TextInput
            {...props}
            type="password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        )}
      </Field>
      {(emailReason ?? passwordReason) === undefined && <ErrorNote error={error} />}
      <Button
        type="submit"
        variant="primary"
        busy={busy}
        disabled={apiKey.trim() === '' || email.trim() === '' || password === ''}
        className="w-full"
      >
        {t('signIn.first.submit')}
      </Button>
    </form>
  )
}
