import type { ApiKey } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useEffect, useId, useRef, useState } from 'react'
import {
  ApiKeysSection,
  isLive,
  KeysToRevoke,
  keysQueryKey,
  rolesUpTo,
  useKeys,
} from '../components/api-keys.tsx'
import { ConfirmButton } from '../components/confirm.tsx'
import { PushToggle } from '../components/push-toggle.tsx'
import { TelegramLinks } from '../components/telegram-link.tsx'
import { Button, Card, ErrorNote, Field, PageTitle, TextInput } from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import { fieldRefusal } from '../lib/errors.ts'
import { useI18n } from '../lib/i18n.tsx'
import { useMyRole } from '../lib/roles.ts'
import { onNavigation } from '../lib/router.tsx'
import { signOutEverywhereId, useSignOut } from '../lib/sign-out.tsx'

// The signed-in person's own account: change the password (the session continues: the SDK switches
// to the new session the server answers), notifications in this browser, their Telegram chats (a link
// code per Telegram channel), personal API keys, and "sign out everywhere". A password
// change and signing out everywhere revoke the personal keys (decision 0017): when there are any,
// a dialog lists them first. Signed in with an API key there is no person, and the page says so.
// The account menu's "sign out everywhere" leads here (/account#sign-out-everywhere), so that dialog
// is the one way to it.

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
      <PushToggle />
      <TelegramLinks userId={session.user.id} />
      <ApiKeysSection scope="personal" roles={rolesUpTo(role)} />
      <SignOutEverywhere />
    </div>
  )
}

/**
 * The personal keys that still work: what a password change or "sign out everywhere" revokes.
 * `live` is undefined while the list loads (the actions wait for it, so a dialog never says "none"
 * too early) and when it could not be loaded (the dialog says so instead of naming none).
 */
function useLivePersonalKeys(): { live: ApiKey[] | undefined; loading: boolean } {
  const keys = useKeys('personal')
  const now = Date.now()
  return { live: keys.data?.items.filter((key) => isLive(key, now)), loading: keys.isPending }
}

/** What the dialog says about the keys an action revokes. */
function KeysItRevokes({ live, intro, none }: { live: ApiKey[] | undefined; intro: string; none: string }) {
  const { t } = useI18n()
  if (!live) return <p>{t('account.keysUnknown')}</p>
  if (live.length === 0) return <p>{none}</p>
  return <KeysToRevoke keys={live} intro={intro} />
}

/** Scrolls to and focuses `element` whenever the URL's fragment names its id, also on a later visit. */
function useShowOnFragment(element: { current: HTMLElement | null }, id: string) {
  useEffect(() => {
    let frame = 0
    const show = () => {
      if (window.location.hash !== `#${id}`) return
      // A frame later: after the router's scroll to the top and the shell's focus on a new page.
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => {
        element.current?.scrollIntoView({ block: 'start' })
        element.current?.focus({ preventScroll: true })
      })
    }
    show()
    const stop = onNavigation(show)
    return () => {
      stop()
      cancelAnimationFrame(frame)
    }
  }, [element, id])
}

function SignOutEverywhere() {
  const { t } = useI18n()
  const { client, credentials } = useSignedIn()
  const signOut = useSignOut()
  const { live, loading } = useLivePersonalKeys()
  const headingId = useId()
  const section = useRef<HTMLElement>(null)
  useShowOnFragment(section, signOutEverywhereId)
  const everywhere = useMutation({
    mutationFn: () => client.auth.logoutEverywhere(),
    // This session has ended too: the tab forgets it and shows the sign-in page with the word why.
    // A refusal (offline) keeps the session and shows the error in the dialog: nothing has ended.
    onSuccess: () => {
      credentials?.forget()
      signOut('signedOutEverywhere')
    },
  })
  return (
    <section
      ref={section}
      id={signOutEverywhereId}
      aria-labelledby={headingId}
      tabIndex={-1}
      className="scroll-mt-4 outline-none"
    >
      <Card className="space-y-3">
        <h2 id={headingId} className="text-xl font-semibold">
          {t('account.everywhere')}
        </h2>
        <p className="text-sm text-slate-700 dark:text-slate-300">{t('account.everywhereIntro')}</p>
        <ConfirmButton
          label={t('account.everywhere')}
          title={t('account.everywhereTitle')}
          text={
            <>
              <p>{t('account.everywhereText')}</p>
              <div className="mt-2">
                <KeysItRevokes
                  live={live}
                  intro={t('account.everywhereKeys')}
                  none={t('account.everywhereNoKeys')}
                />
              </div>
            </>
          }
          confirmLabel={t('account.everywhere')}
          disabled={loading}
          busy={everywhere.isPending}
          error={everywhere.error}
          onConfirm={() =>
            everywhere.mutateAsync().then(
              () => true,
              () => false,
            )
          }
        />
      </Card>
    </section>
  )
}

function ChangePassword({ email }: { email: string }) {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const queryClient = useQueryClient()
  const { live, loading } = useLivePersonalKeys()
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [done, setDone] = useState('')
  const currentInput = useRef<HTMLInputElement>(null)
  const nextInput = useRef<HTMLInputElement>(null)
  const confirmDialog = useRef<HTMLDialogElement>(null)
  const headingId = useId()
  const dialogTitleId = useId()
  const change = useMutation({
    mutationFn: () => client.auth.changePassword({ currentPassword: current, newPassword: next }),
    onMutate: () => setDone(''),
    onSuccess: async () => {
      setCurrent('')
      setNext('')
      setDone(t('account.changed'))
      await queryClient.invalidateQueries({ queryKey: keysQueryKey('personal') })
    },
    onSettled: () => confirmDialog.current?.close(),
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
    // Keys that will stop working are named first; without any, the change needs no question.
    if (!live || live.length > 0) confirmDialog.current?.showModal()
    else change.mutate()
  }
  return (
    <section aria-labelledby={headingId}>
      <dialog
        ref={confirmDialog}
        aria-labelledby={dialogTitleId}
        className="m-auto max-w-md rounded-lg bg-white p-6 text-slate-900 backdrop:bg-black/50 dark:bg-slate-800 dark:text-slate-100"
      >
        <h2 id={dialogTitleId} className="text-lg font-semibold break-words">
          {t('account.revokeTitle')}
        </h2>
        <div className="mt-2 text-sm">
          <KeysItRevokes live={live} intro={t('account.revokeText')} none="" />
        </div>
        <div className="mt-4 flex flex-wrap justify-end gap-2">
          <Button autoFocus onClick={() => confirmDialog.current?.close()}>
            {t('common.cancel')}
          </Button>
          <Button variant="danger" busy={change.isPending} onClick={() => change.mutate()}>
            {t('account.revokeConfirm')}
          </Button>
        </div>
      </dialog>
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
          <Button type="submit" variant="primary" disabled={loading} busy={change.isPending}>
            {t('account.change')}
          </Button>
        </form>
      </Card>
    </section>
  )
}
