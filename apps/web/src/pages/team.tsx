import type { ApiKey, Role, User } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useRef, useState } from 'react'
import {
  ApiKeysSection,
  isLive,
  KeysToRevoke,
  keysQueryKey,
  RoleField,
  rolesUpTo,
  useKeys,
} from '../components/api-keys.tsx'
import { ConfirmButton } from '../components/confirm.tsx'
import { Button, Card, ErrorNote, Field, Loading, PageTitle, Select, TextInput } from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import { fieldRefusal } from '../lib/errors.ts'
import { useI18n } from '../lib/i18n.tsx'
import { isAdminRole, roleRank, useMyRole } from '../lib/roles.ts'

// The workspace's people and service keys (admins and owners). A lower role — or a key below admin —
// gets a sentence saying so, not an error. Every error shows where it happened: a refused password
// at the password field, a `last_owner` at the person's row. Each service key names its creator;
// disabling or removing a person revokes the keys they created, and the dialog lists them first.

export default function Team() {
  const { t } = useI18n()
  const myRole = useMyRole()
  const { session } = useSignedIn()
  const lowerRole = session.kind === 'jwt' && !isAdminRole(myRole)
  const { client } = useSignedIn()
  const users = useQuery({
    queryKey: ['users'],
    queryFn: () => client.users.list({ limit: 100 }),
    enabled: !lowerRole,
  })
  if (lowerRole || (users.error instanceof ApiError && users.error.status === 403)) return <NeedsAdmin />
  if (users.isLoading) return <Loading />
  const roles = rolesUpTo(myRole)
  const people = new Map((users.data?.items ?? []).map((user) => [user.id, user.email]))
  return (
    <div className="space-y-10">
      <PageTitle>{t('team.title')}</PageTitle>
      <ErrorNote error={users.error} />
      {users.data && <People users={users.data.items} roles={roles} myRole={myRole} />}
      <ApiKeysSection scope="service" roles={roles} people={people} />
    </div>
  )
}

function NeedsAdmin() {
  const { t } = useI18n()
  return (
    <div>
      <PageTitle>{t('team.needsAdminTitle')}</PageTitle>
      <Card>
        <p className="font-medium">{t('team.needsAdmin')}</p>
        <p className="mt-2 text-sm text-slate-700 dark:text-slate-300">{t('team.needsAdminHint')}</p>
      </Card>
    </div>
  )
}

function People({ users, roles, myRole }: { users: User[]; roles: Role[]; myRole: Role | undefined }) {
  const { t } = useI18n()
  const { session } = useSignedIn()
  const me = session.kind === 'jwt' ? session.user.id : undefined
  const keys = useKeys('service')
  const now = Date.now()
  const liveKeys = (keys.data?.items ?? []).filter((key) => isLive(key, now))
  const [result, setResult] = useState('')
  const heading = useRef<HTMLHeadingElement>(null)
  const headingId = useId()
  return (
    <section aria-labelledby={headingId} className="space-y-4">
      <div>
        <h2 id={headingId} ref={heading} tabIndex={-1} className="text-xl font-semibold outline-none">
          {t('team.people')}
        </h2>
        <p className="mt-1 text-sm text-slate-700 dark:text-slate-300">{t('team.peopleIntro')}</p>
      </div>
      <p role="status" className="text-sm text-emerald-800 empty:hidden dark:text-emerald-300">
        {result}
      </p>
      <ul className="space-y-2" data-testid="people">
        {users.map((user) => (
          <PersonRow
            key={user.id}
            user={user}
            isMe={user.id === me}
            created={liveKeys.filter((key) => key.createdBy === user.id)}
            personal={liveKeys.filter((key) => key.userId === user.id)}
            roles={roles}
            // Nobody touches a role above their own (unknown for an API key: the server decides).
            locked={myRole !== undefined && roleRank[user.role] > roleRank[myRole]}
            onResult={setResult}
            focusAfterRemove={() => heading.current}
          />
        ))}
      </ul>
      <AddPerson roles={roles} onResult={setResult} />
    </section>
  )
}

function PersonRow({
  user,
  isMe,
  created,
  personal,
  roles,
  locked,
  onResult,
  focusAfterRemove,
}: {
  user: User
  isMe: boolean
  /** Service keys this person created that still work: disabling or removing them revokes these. */
  created: ApiKey[]
  /** Their personal keys that still work (removing them revokes these too). */
  personal: ApiKey[]
  roles: Role[]
  locked: boolean
  onResult: (message: string) => void
  focusAfterRemove: () => HTMLElement | null
}) {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const queryClient = useQueryClient()
  const [role, setRole] = useState<Role>(user.role)
  const selectId = useId()
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ['users'] }),
      queryClient.invalidateQueries({ queryKey: keysQueryKey('service') }),
    ])
  const roleName = (r: Role) => t(`role.${r}`)
  const update = useMutation({
    mutationFn: (patch: { role?: Role; disabled?: boolean }) => client.users.update(user.id, patch),
    onSuccess: async (next, patch) => {
      if (patch.role) onResult(t('team.roleChanged', { email: next.email, role: roleName(next.role) }))
      else if (next.disabledAt) onResult(t('team.disabledDone', { email: next.email }))
      else onResult(t('team.enabledDone', { email: next.email }))
      await refresh()
    },
  })
  const remove = useMutation({
    mutationFn: () => client.users.remove(user.id),
    onSuccess: async () => {
      onResult(t('team.removed', { email: user.email }))
      await refresh()
    },
  })
  const disabled = user.disabledAt !== null
  const choices = roles.includes(user.role) ? roles : [...roles, user.role]
  return (
    <li>
      <Card className="space-y-2 p-3">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <div className="min-w-0">
            <p className="font-medium break-all">
              {user.email} {isMe && <span className="text-sm font-normal">{t('team.you')}</span>}
            </p>
            <p className="text-sm text-slate-700 dark:text-slate-300">
              {roleName(user.role)} ·{' '}
              <span className={disabled ? 'font-medium text-red-800 dark:text-red-300' : ''}>
                {disabled ? t('team.disabled') : t('team.active')}
              </span>
            </p>
          </div>
          <div className="flex flex-wrap items-center gap-2">
            <label htmlFor={selectId} className="sr-only">
              {t('team.roleOf', { email: user.email })}
            </label>
            <Select
              id={selectId}
              value={role}
              disabled={locked}
              onChange={(e) => setRole(e.target.value as Role)}
              className="w-auto! py-1"
            >
              {choices.map((r) => (
                <option key={r} value={r}>
                  {roleName(r)}
                </option>
              ))}
            </Select>
            <Button
              className="px-2 py-1"
              disabled={locked || role === user.role}
              busy={update.isPending && update.variables?.role !== undefined}
              aria-label={t('team.changeRoleLabel', { email: user.email })}
              onClick={() => update.mutate({ role })}
            >
              {t('team.changeRole')}
            </Button>
            {/* Disabling or removing yourself would lock you out mid-click: another admin does that. */}
            {!isMe && (
              <>
                {!disabled && created.length > 0 ? (
                  // Their service keys will be revoked: say which before doing it.
                  <ConfirmButton
                    label={t('team.disable')}
                    accessibleLabel={t('team.disableLabel', { email: user.email })}
                    title={t('team.disableTitle', { email: user.email })}
                    text={
                      <KeysToRevoke keys={created} intro={t('team.disableText', { email: user.email })} />
                    }
                    confirmLabel={t('team.disableConfirm')}
                    disabled={locked}
                    busy={update.isPending && update.variables?.disabled !== undefined}
                    error={update.variables?.disabled !== undefined ? update.error : null}
                    onConfirm={() =>
                      update.mutateAsync({ disabled: true }).then(
                        () => true,
                        () => false,
                      )
                    }
                  />
                ) : (
                  <Button
                    className="px-2 py-1"
                    disabled={locked}
                    busy={update.isPending && update.variables?.disabled !== undefined}
                    aria-label={t(disabled ? 'team.enableLabel' : 'team.disableLabel', { email: user.email })}
                    onClick={() => update.mutate({ disabled: !disabled })}
                  >
                    {disabled ? t('team.enable') : t('team.disable')}
                  </Button>
                )}
                <ConfirmButton
                  label={t('team.remove')}
                  accessibleLabel={t('team.removeLabel', { email: user.email })}
                  title={t('team.removeTitle', { email: user.email })}
                  text={
                    <>
                      <p>{t('team.removeText')}</p>
                      {created.length + personal.length > 0 && (
                        <div className="mt-2">
                          <KeysToRevoke keys={[...personal, ...created]} intro={t('team.removeKeys')} />
                        </div>
                      )}
                    </>
                  }
                  confirmLabel={t('team.removeConfirm')}
                  disabled={locked}
                  busy={remove.isPending}
                  error={remove.error}
                  onConfirm={() =>
                    remove.mutateAsync().then(
                      () => true,
                      () => false,
                    )
                  }
                  focusAfter={focusAfterRemove}
                />
              </>
            )}
          </div>
        </div>
        <ErrorNote error={update.error} words={{ forbidden: 'error.forbiddenRole' }} />
      </Card>
    </li>
  )
}

/** The server's reason for a refused field, if it named one. */
function AddPerson({ roles, onResult }: { roles: Role[]; onResult: (message: string) => void }) {
  const { t } = useI18n()
  const { client } = useSignedIn()
  const queryClient = useQueryClient()
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>(roles.includes('editor') ? 'editor' : roles[0]!)
  const [password, setPassword] = useState('')
  const passwordInput = useRef<HTMLInputElement>(null)
  const add = useMutation({
    mutationFn: () => client.users.create({ email: email.trim(), password, role }),
    onSuccess: async (user) => {
      onResult(t('team.added', { email: user.email, role: t(`role.${user.role}`) }))
      setEmail('')
      setPassword('')
      await queryClient.invalidateQueries({ queryKey: ['users'] })
    },
    onError: (error) => {
      if (fieldRefusal(error, 'password', t)) passwordInput.current?.focus()
    },
  })
  const passwordReason = fieldRefusal(add.error, 'password', t)
  const emailReason = fieldRefusal(add.error, 'email', t)
  // A refusal the fields already say needs no second note.
  const fieldsSayIt = (passwordReason ?? emailReason) !== undefined
  const submit = (event: FormEvent) => {
    event.preventDefault()
    add.mutate()
  }
  const formId = useId()
  return (
    <Card>
      <form onSubmit={submit} aria-labelledby={formId} className="space-y-3">
        <h3 id={formId} className="font-semibold">
          {t('team.add')}
        </h3>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field label={t('team.email')} error={emailReason}>
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
          <RoleField label={t('team.role')} roles={roles} value={role} onChange={setRole} />
        </div>
        <Field
          label={t('team.password')}
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
        {!fieldsSayIt && <ErrorNote error={add.error} words={{ forbidden: 'error.forbiddenRole' }} />}
        <Button type="submit" variant="primary" busy={add.isPending}>
          {t('team.addSubmit')}
        </Button>
      </form>
    </Card>
  )
}
