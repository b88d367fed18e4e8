import type { ApiKey, ApiKeyCreated, Role } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react'
import { useClient } from '../lib/api.tsx'
import { formatDateTime, formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { ConfirmButton } from './confirm.tsx'
import { Button, Card, ErrorNote, Field, Loading, Select, TextInput } from './ui.tsx'

// API keys, service (the Team page, admins) or personal (the Account page, any signed-in user): the
// list with prefix, role, last use, expiry, state and (service keys) who created them; create (shown
// once, with a copy button); revoke after asking. The key itself lives only in this component's state
// until "I have stored it". The pages' dialogs list the keys an action will revoke (decision 0017).

export const allRoles: Role[] = ['viewer', 'editor', 'admin', 'owner']

/** The roles someone with `role` may grant (all of them when the role is unknown: the server decides). */
export function rolesUpTo(role: Role | undefined): Role[] {
  if (!role) return allRoles
  return allRoles.slice(0, allRoles.indexOf(role) + 1)
}

/** A role picker limited to `roles` (the ones the caller may give). */
export function RoleField({
  label,
  roles,
  value,
  onChange,
}: {
  label: string
  roles: Role[]
  value: Role
  onChange: (role: Role) => void
}) {
  const { t } = useI18n()
  return (
    <Field label={label}>
      {(props) => (
        <Select {...props} value={value} onChange={(e) => onChange(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {t(`role.${r}`)}
            </option>
          ))}
        </Select>
      )}
    </Field>
  )
}

/**
 * The keys of a scope, one query shared by the list and the pages' dialogs: for `service` every key
 * of the workspace (GET /keys answers personal ones too, with their `userId`), for `personal` yours.
 */
export function useKeys(scope: 'service' | 'personal') {
  const client = useClient()
  const api = scope === 'service' ? client.keys : client.auth.keys
  return useQuery({ queryKey: keysQueryKey(scope), queryFn: () => api.list({ limit: 100 }) })
}

export const keysQueryKey = (scope: 'service' | 'personal') => ['keys', scope]

/** A key that works: not revoked, not expired. */
export function isLive(key: ApiKey, now = Date.now()): boolean {
  return key.revokedAt === null && (key.expiresAt === null || Date.parse(key.expiresAt) > now)
}

/** The keys an action will revoke, for its dialog: name and prefix, never more. */
export function KeysToRevoke({ keys, intro }: { keys: ApiKey[]; intro: ReactNode }) {
  const { t } = useI18n()
  return (
    <>
      <p>{intro}</p>
      <ul className="mt-2 list-disc space-y-1 pl-5" data-testid="keys-to-revoke">
        {keys.map((key) => (
          <li key={key.id} className="break-words">
            {t('keys.revokedWith', { name: key.name, prefix: `${key.prefix}…` })}
          </li>
        ))}
      </ul>
    </>
  )
}

export function ApiKeysSection({
  scope,
  roles,
  people,
}: {
  scope: 'service' | 'personal'
  roles: Role[]
  /** E-mails by user id, to name who created a service key. */
  people?: ReadonlyMap<string, string>
}) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const api = scope === 'service' ? client.keys : client.auth.keys
  const queryKey = keysQueryKey(scope)
  const all = useKeys(scope)
  // The service list shows the workspace's keys, not people's personal ones.
  const keys = {
    ...all,
    data: all.data && {
      ...all.data,
      items: scope === 'service' ? all.data.items.filter((key) => key.userId === null) : all.data.items,
    },
  }
  const creatorOf = (key: ApiKey) =>
    key.createdBy === null
      ? t('keys.createdByStartup')
      : (people?.get(key.createdBy) ?? t('keys.createdByGone'))
  const [created, setCreated] = useState<ApiKeyCreated | null>(null)
  const [result, setResult] = useState('')
  const heading = useRef<HTMLHeadingElement>(null)
  const headingId = useId()

  const revoke = useMutation({
    mutationFn: (key: ApiKey) => api.revoke(key.id),
    onSuccess: async (key) => {
      setResult(t('keys.revokedDone', { name: key.name }))
      await queryClient.invalidateQueries({ queryKey })
    },
  })

  const now = Date.now()
  const stateOf = (key: ApiKey) =>
    key.revokedAt
      ? t('keys.revoked')
      : key.expiresAt && Date.parse(key.expiresAt) <= now
        ? t('keys.expired')
        : t('keys.active')

  return (
    <section aria-labelledby={headingId} className="space-y-4">
      <div>
        <h2 id={headingId} ref={heading} tabIndex={-1} className="text-xl font-semibold outline-none">
          {scope === 'service' ? t('keys.serviceTitle') : t('keys.personalTitle')}
        </h2>
        <p className="mt-1 text-sm text-slate-700 dark:text-slate-300">
          {scope === 'service' ? t('keys.serviceIntro') : t('keys.personalIntro')}
        </p>
      </div>
      <p role="status" className="text-sm text-emerald-800 empty:hidden dark:text-emerald-300">
        {result}
      </p>
      {keys.isLoading ? (
        <Loading />
      ) : (
        <>
          <ErrorNote error={keys.error} />
          {keys.data && keys.data.items.length === 0 && (
            <p className="text-sm text-slate-700 dark:text-slate-300">{t('keys.none')}</p>
          )}
          {keys.data && keys.data.items.length > 0 && (
            <ul className="space-y-2" data-testid={`keys-${scope}`}>
              {keys.data.items.map((key) => (
                <li key={key.id}>
                  <Card className="flex flex-wrap items-start justify-between gap-3 p-3">
                    <div className="min-w-0">
                      <p className="font-medium break-words">{key.name}</p>
                      <dl className="mt-1 grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-sm text-slate-700 dark:text-slate-300">
                        <dt>{t('keys.prefix')}</dt>
                        <dd className="font-mono">{key.prefix}…</dd>
                        <dt>{t('keys.role')}</dt>
                        <dd>{t(`role.${key.role}`)}</dd>
                        <dt>{t('keys.lastUsed')}</dt>
                        <dd>
                          {key.lastUsedAt ? formatRelative(key.lastUsedAt, lang, now) : t('keys.never')}
                        </dd>
                        <dt>{t('keys.expires')}</dt>
                        <dd>{key.expiresAt ? formatDateTime(key.expiresAt, lang) : t('keys.noExpiry')}</dd>
                        <dt>{t('keys.state')}</dt>
                        <dd>{stateOf(key)}</dd>
                        {scope === 'service' && (
                          <>
                            <dt>{t('keys.createdBy')}</dt>
                            <dd className="break-all">{creatorOf(key)}</dd>
                          </>
                        )}
                      </dl>
                    </div>
                    {!key.revokedAt && (
                      <ConfirmButton
                        label={t('keys.revoke')}
                        accessibleLabel={t('keys.revokeLabel', { name: key.name })}
                        title={t('keys.revokeTitle', { name: key.name })}
                        text={t('keys.revokeText')}
                        confirmLabel={t('keys.revokeConfirm')}
                        busy={revoke.isPending && revoke.variables?.id === key.id}
                        error={revoke.variables?.id === key.id ? revoke.error : null}
                        onConfirm={() =>
                          revoke.mutateAsync(key).then(
                            () => true,
                            () => false,
                          )
                        }
                        focusAfter={() => heading.current}
                      />
                    )}
                  </Card>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {created ? (
        <ShownOnce
          created={created}
          onDone={() => {
            setCreated(null)
            heading.current?.focus()
          }}
        />
      ) : (
        <CreateKeyForm
          scope={scope}
          roles={roles}
          onCreated={async (next) => {
            setResult('')
            setCreated(next)
            await queryClient.invalidateQueries({ queryKey })
          }}
        />
      )}
    </section>
  )
}

function CreateKeyForm({
  scope,
  roles,
  onCreated,
}: {
  scope: 'service' | 'personal'
  roles: Role[]
  onCreated: (created: ApiKeyCreated) => Promise<void>
}) {
  const { t } = useI18n()
  const client = useClient()
  const api = scope === 'service' ? client.keys : client.auth.keys
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>(roles.includes('editor') ? 'editor' : roles[0]!)
  const [expiry, setExpiry] = useState('')
  const create = useMutation({
    mutationFn: () =>
      api.create({
        name: name.trim(),
        role,
        // The start of that day where the person is.
        expiresAt: expiry ? new Date(`${expiry}T00:00:00`).toISOString() : null,
      }),
    onSuccess: onCreated,
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    create.mutate()
  }
  const formId = useId()
  return (
    <Card>
      <form onSubmit={submit} aria-labelledby={formId} className="space-y-3">
        <h3 id={formId} className="font-semibold">
          {t('keys.create')}
        </h3>
        <div className="grid gap-3 sm:grid-cols-3">
          <Field label={t('keys.name')}>
            {(props) => (
              <TextInput
                {...props}
                required
                maxLength={200}
                value={name}
                onChange={(e) => setName(e.target.value)}
              />
            )}
          </Field>
          <RoleField label={t('keys.role')} roles={roles} value={role} onChange={setRole} />
          <Field label={t('keys.expiry')} hint={t('keys.expiryHint')}>
            {(props) => (
              <TextInput {...props} type="date" value={expiry} onChange={(e) => setExpiry(e.target.value)} />
            )}
          </Field>
        </div>
        <ErrorNote error={create.error} words={{ forbidden: 'error.forbiddenRole' }} />
        <Button type="submit" variant="primary" busy={create.isPending}>
          {t('keys.createSubmit')}
        </Button>
      </form>
    </Card>
  )
}

/** The new key, this once: focus moves here so a screen reader reads it, with a copy button. */
function ShownOnce({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const { t } = useI18n()
  const heading = useRef<HTMLHeadingElement>(null)
  const [copied, setCopied] = useState('')
  const inputId = useId()
  useEffect(() => heading.current?.focus(), [])
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key)
      setCopied(t('keys.copied'))
    } catch {
      setCopied(t('keys.copyFailed'))
    }
  }
  return (
    <div
      className="space-y-3 rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50"
      data-testid="key-once"
    >
      <h3 ref={heading} tabIndex={-1} className="font-semibold outline-none">
        {t('keys.created', { name: created.apiKey.name })}
      </h3>
      <p className="text-sm font-medium">{t('keys.once')}</p>
      <label htmlFor={inputId} className="block text-sm font-medium">
        {t('keys.theKey')}
      </label>
      <div className="flex flex-wrap gap-2">
        <TextInput
          id={inputId}
          readOnly
          value={created.key}
          onFocus={(e) => e.target.select()}
          className="min-w-0 flex-1 font-mono"
        />
        <Button onClick={() => void copy()}>{t('keys.copy')}</Button>
      </div>
      <p role="status" className="text-sm empty:hidden">
        {copied}
      </p>
      <Button variant="primary" onClick={onDone}>
        {t('keys.done')}
      </Button>
    </div>
  )
}
