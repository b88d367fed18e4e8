import type { Workspace } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useRef, useState } from 'react'
import { ConfirmButton } from '../components/confirm.tsx'
import { Button, Card, ErrorNote, Field, Loading, PageTitle, TextInput } from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import { fieldRefusal } from '../lib/errors.ts'
import { formatDateTime } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'

// The installation's workspaces, for its admins (owners of the default workspace, decision 0020):
// create one with its first owner, disable and enable it. Anyone else gets a sentence, not an error.

export const workspacesQueryKey = ['workspaces'] as const

export default function Workspaces() {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const list = useQuery({
    queryKey: workspacesQueryKey,
    queryFn: () => client.workspaces.list({ limit: 200 }),
  })
  if (list.error instanceof ApiError && list.error.status === 403) return <NeedsInstallationAdmin />
  if (list.isLoading) return <Loading />
  return (
    <div className="space-y-8">
      <PageTitle>{t('workspaces.title')}</PageTitle>
      <p className="text-slate-700 dark:text-slate-300">{t('workspaces.intro')}</p>
      <ErrorNote error={list.error} />
      {list.data && <WorkspaceList workspaces={list.data.items} />}
      <CreateWorkspace />
    </div>
  )
}

function NeedsInstallationAdmin() {
  const { t } = useI18n()
  return (
    <div>
      <PageTitle>{t('workspaces.title')}</PageTitle>
      <Card>
        <p className="font-medium">{t('workspaces.needsAdmin')}</p>
        <p className="mt-2 text-sm text-slate-700 dark:text-slate-300">{t('workspaces.needsAdminHint')}</p>
      </Card>
    </div>
  )
}

function WorkspaceList({ workspaces }: { workspaces: Workspace[] }) {
  const { t } = useI18n()
  const [result, setResult] = useState('')
  return (
    <section className="space-y-3">
      <p role="status" className="text-sm text-emerald-800 empty:hidden dark:text-emerald-300">
        {result}
      </p>
      <ul className="space-y-2" data-testid="workspaces">
        {workspaces.map((workspace) => (
          <WorkspaceRow key={workspace.id} workspace={workspace} onResult={setResult} />
        ))}
      </ul>
      {workspaces.length === 0 && <p>{t('workspaces.none')}</p>}
    </section>
  )
}

function WorkspaceRow({ workspace, onResult }: { workspace: Workspace; onResult: (text: string) => void }) {
  const { t, lang } = useI18n()
  const { client } = useSignedIn()
  const queryClient = useQueryClient()
  const update = useMutation({
    mutationFn: (disabled: boolean) => client.workspaces.update(workspace.id, { disabled }),
    onSuccess: async (next) => {
      onResult(t(next.disabledAt ? 'workspaces.disabledDone' : 'workspaces.enabledDone', { name: next.name }))
      await queryClient.invalidateQueries({ queryKey: workspacesQueryKey })
    },
  })
  const disabled = workspace.disabledAt !== null
  return (
    <li>
      <Card className="space-y-2 p-3">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <div className="min-w-0">
            <p className="font-medium break-all">
              {workspace.name}{' '}
              {workspace.isDefault && (
                <span className="text-sm font-normal">{t('workspaces.defaultTag')}</span>
              )}
            </p>
            <p className="text-sm text-slate-700 dark:text-slate-300">
              <span className="font-mono text-xs break-all">{workspace.id}</span> ·{' '}
              {t('workspaces.users', { n: workspace.users })} ·{' '}
              <span className={disabled ? 'font-medium text-red-800 dark:text-red-300' : ''}>
                {disabled
                  ? t('workspaces.disabledSince', { when: formatDateTime(workspace.disabledAt!, lang) })
                  : t('workspaces.enabled')}
              </span>
            </p>
          </div>
          {workspace.isDefault ? (
            <p className="text-sm text-slate-700 dark:text-slate-300">{t('workspaces.defaultProtected')}</p>
          ) : disabled ? (
            <Button
              className="px-2 py-1"
              busy={update.isPending}
              aria-label={t('workspaces.enableLabel', { name: workspace.name })}
              onClick={() => update.mutate(false)}
            >
              {t('workspaces.enable')}
            </Button>
          ) : (
            <ConfirmButton
              label={t('workspaces.disable')}
              accessibleLabel={t('workspaces.disableLabel', { name: workspace.name })}
              title={t('workspaces.disableTitle', { name: workspace.name })}
              text={t('workspaces.disableText')}
              confirmLabel={t('workspaces.disableConfirm')}
              busy={update.isPending}
              error={update.error}
              onConfirm={() =>
                update.mutateAsync(true).then(
                  () => true,
                  () => false,
                )
              }
            />
          )}
        </div>
        {disabled && <ErrorNote error={update.error} />}
      </Card>
    </li>
  )
}

function CreateWorkspace() {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [created, setCreated] = useState('')
  const passwordInput = useRef<HTMLInputElement>(null)
  const create = useMutation({
    mutationFn: () =>
      client.workspaces.create({ name: name.trim(), owner: { email: email.trim(), password } }),
    onSuccess: async (workspace) => {
      setCreated(t('workspaces.created', { name: workspace.name, email: workspace.owner.email }))
      setName('')
      setEmail('')
      setPassword('')
      await queryClient.invalidateQueries({ queryKey: workspacesQueryKey })
    },
    onError: (error) => {
      if (fieldRefusal(error, 'password', t)) passwordInput.current?.focus()
    },
  })
  const nameReason = fieldRefusal(create.error, 'name', t)
  const emailReason = fieldRefusal(create.error, 'email', t)
  const passwordReason = fieldRefusal(create.error, 'password', t)
  const fieldsSayIt = (nameReason ?? emailReason ?? passwordReason) !== undefined
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setCreated('')
    create.mutate()
  }
  const formId = useId()
  return (
    <Card>
      <form onSubmit={submit} aria-labelledby={formId} className="space-y-3">
        <h2 id={formId} className="text-lg font-semibold">
          {t('workspaces.create')}
        </h2>
        <p className="text-sm text-slate-700 dark:text-slate-300">{t('workspaces.createIntro')}</p>
        <Field label={t('workspaces.name')} error={nameReason}>
          {(props) => (
            <TextInput
              {...props}
              required
              maxLength={100}
              autoComplete="off"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field label={t('workspaces.ownerEmail')} error={emailReason}>
          {(props) => (
            <TextInput
              {...props}
              type="email"
              required
              autoComplete="off"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field
          label={t('workspaces.ownerPassword')}
          hint={t('team.passwordHint')}
          error={passwordReason ? t('team.passwordRefused', { reason: passwordReason }) : undefined}
        >
          {(props) => (
            <TextInput
              {...props}
              ref={passwordInput}
              type="password"
              required
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {!fieldsSayIt && <ErrorNote error={create.error} />}
        <p role="status" className="text-sm text-emerald-800 empty:hidden dark:text-emerald-300">
          {created}
        </p>
        <Button
          type="submit"
          variant="primary"
          busy={create.isPending}
          disabled={name.trim() === '' || email.trim() === '' || password === ''}
        >
          {t('workspaces.createSubmit')}
        </Button>
      </form>
    </Card>
  )
}
