import { ApiError } from '@openorch/sdk'
import { useMutation } from '@tanstack/react-query'
import { type FormEvent, useId, useRef, useState } from 'react'
import { ApiKeysSection, rolesUpTo } from '../components/api-keys.tsx'
import { Button, Card, ErrorNote, Field, PageTitle, TextInput } from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import { fieldRefusal } from '../lib/errors.ts'
import { useI18n } from '../lib/i18n.tsx'
import { useMyRole } from './team.tsx'

// The signed-in person's own account: change the password (the session continues: the SDK switches
// to the new session the server answers) and personal API keys. Signed in with an API key there is
// no person, and the page says so.

export default function Account() {
  const { t } = useI18n()
  const { session } = useSignedIn()
  const role = useMyRole()
  if (session.kind !== 'jwt')
    return (
      <div>
        <PageTitle>{t('account.title')}</PageTitle>
        <Card>
          <p className="font-medium">{t('account.needsUser')}</p>
          <p className="mt-2 text-sm text-slate-700 dark:text-slate-300">{t('account.needsUserHint')}</p>
        </Card>
      </div>
    )
  return (
    <div className="space-y-10">
      <div>
        <PageTitle>{t('account.title')}</PageTitle>
        <p className="text-sm text-slate-700 dark:text-slate-300">
          {t('account.signedInAs', { email: session.user.email, role: t(`role.${role ?? 'viewer'}`) })}
        </p>
      </div>
      <ChangePassword email={session.user.email} />
      <ApiKeysSection scope="personal" roles={rolesUpTo(role)} />
    </div>
  )
}

function ChangePassword({ email }: { email: string }) {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [done, setDone] = useState('')
  const currentInput = useRef<HTMLInputElement>(null)
  const nextInput = useRef<HTMLInputElement>(null)
  const headingId = useId()
  const change = useMutation({
    mutationFn: () => client.auth.changePassword({ currentPassword: current, newPassword: next }),
    onMutate: () => setDone(''),
    onSuccess: () => {
      setCurrent('')
      setNext('')
      setDone(t('account.changed'))
    },
    onError: (error) => {
      if (error instanceof ApiError && error.code === 'invalid_credentials') currentInput.current?.focus()
      else if (error instanceof ApiError && error.code === 'validation_failed') nextInput.current?.focus()
    },
  })
  const error = change.error
  const wrongCurrent = error instanceof ApiError && error.code === 'invalid_credentials'
  const refused = fieldRefusal(error, 'newPassword', t)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    change.mutate()
  }
  return (
    <section aria-labelledby={headingId}>
      <Card>
        <form onSubmit={submit} className="space-y-3">
          <h2 id={headingId} className="text-xl font-semibold">
            {t('account.password')}
          </h2>
          <p className="text-sm text-slate-700 dark:text-slate-300">{t('account.passwordIntro')}</p>
          {/* A password manager pairs the fields with the account. */}
          <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
          <Field label={t('account.current')} error={wrongCurrent ? t('account.wrongCurrent') : undefined}>
            {(props) => (
              <TextInput
                {...props}
                ref={currentInput}
                type="password"
                required
                autoComplete="current-password"
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
              />
            )}
          </Field>
          <Field
            label={t('account.new')}
            hint={t('account.newHint')}
            error={refused ? t('team.passwordRefused', { reason: refused }) : undefined}
          >
            {(props) => (
              <TextInput
                {...props}
                ref={nextInput}
                type="password"
                required
                autoComplete="new-password"
                value={next}
                onChange={(e) => setNext(e.target.value)}
              />
            )}
          </Field>
          {!wrongCurrent && !refused && <ErrorNote error={error} />}
          <p role="status" className="text-sm text-emerald-800 empty:hidden dark:text-emerald-300">
            {done}
          </p>
          <Button type="submit" variant="primary" busy={change.isPending}>
            {t('account.change')}
          </Button>
        </form>
      </Card>
    </section>
  )
}
