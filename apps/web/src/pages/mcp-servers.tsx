import type { McpServer } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { ConfirmButton } from '../components/confirm.tsx'
import {
  Button,
  Card,
  cx,
  Empty,
  ErrorNote,
  Field,
  Loading,
  PageTitle,
  TextArea,
  TextInput,
} from '../components/ui.tsx'
import { useSignedIn } from '../lib/api.tsx'
import { formatRelative } from '../lib/format.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import {
  createBodyOf,
  emptyMcpForm,
  type McpFormValues,
  needsApproval,
  type SecretRow,
} from '../lib/mcp-form.ts'
import { mcpServersApi } from '../lib/tools-api.ts'

// MCP servers of the workspace (admins): each is the tool set `mcp:<name>` a bot may be given. The
// list shows what the server last knew; an enabled server's card asks it again (GET /{id} connects),
// so its status is current: connected with its tools, or the error in words. Header and environment
// values are write-only: the server never returns them, only their names.

const statusStyles: Record<McpServer['status'], string> = {
  connected: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  error: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  disabled: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
  unknown: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
}
const statusIcons: Record<McpServer['status'], string> = {
  connected: '✅',
  error: '❌',
  disabled: '⏹️',
  unknown: '❔',
}

/** Refusals of this page in its own words. */
const words: Partial<Record<string, MessageKey>> = { egress_refused: 'mcp.egressRefused' }

export default function McpServers() {
  const { t } = useI18n()
  const api = mcpServersApi(useSignedIn())
  const servers = useQuery({ queryKey: ['mcp-servers'], queryFn: () => api.list() })
  return (
    <div className="space-y-6">
      <div>
        <PageTitle>{t('mcp.title')}</PageTitle>
        <p className="max-w-3xl text-slate-700 dark:text-slate-300">{t('mcp.intro')}</p>
      </div>
      <ErrorNote error={servers.error} />
      {servers.isLoading ? (
        <Loading />
      ) : servers.data && servers.data.items.length === 0 ? (
        <Empty title={t('mcp.empty')}>{t('mcp.emptyHint')}</Empty>
      ) : (
        <ul className="space-y-4" aria-label={t('mcp.listLabel')}>
          {servers.data?.items.map((server) => (
            <li key={server.id}>
              <ServerCard listed={server} />
            </li>
          ))}
        </ul>
      )}
      <AddServer />
    </div>
  )
}

function StatusPill({ status }: { status: McpServer['status'] }) {
  const { t } = useI18n()
  return (
    <span
      className={cx(
        'inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium',
        statusStyles[status],
      )}
      data-testid="mcp-status"
    >
      <span aria-hidden="true">{statusIcons[status]}</span>
      {t(`mcp.status.${status}`)}
    </span>
  )
}

function ServerCard({ listed }: { listed: McpServer }) {
  const { t, lang } = useI18n()
  const api = mcpServersApi(useSignedIn())
  const queryClient = useQueryClient()
  const headingId = useId()
  // An enabled server is asked for its current state (the server connects to it for this).
  const current = useQuery({
    queryKey: ['mcp-server', listed.id],
    queryFn: () => api.get(listed.id),
    enabled: listed.enabled,
    staleTime: 30_000,
  })
  const server = listed.enabled && current.data ? current.data : listed
  const saved = (next: McpServer) => {
    queryClient.setQueryData(['mcp-server', next.id], next)
    void queryClient.invalidateQueries({ queryKey: ['mcp-servers'] })
    void queryClient.invalidateQueries({ queryKey: ['tools'] })
  }
  const toggle = useMutation({
    mutationFn: () => api.update(server.id, { enabled: !server.enabled }),
    onSuccess: saved,
  })
  const remove = useMutation({
    mutationFn: () => api.remove(server.id),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: ['mcp-server', server.id] })
      void queryClient.invalidateQueries({ queryKey: ['mcp-servers'] })
      void queryClient.invalidateQueries({ queryKey: ['tools'] })
    },
  })

  return (
    <Card>
      <article aria-labelledby={headingId} className="space-y-3" data-testid="mcp-server">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-2">
          <h2 id={headingId} className="text-lg font-semibold break-all">
            {server.name}
          </h2>
          <StatusPill status={server.status} />
          <span className="font-mono text-sm text-slate-700 dark:text-slate-300">{server.toolSet}</span>
          <div className="ml-auto flex flex-wrap gap-2">
            {server.enabled && (
              <Button
                className="px-2 py-1"
                busy={current.isFetching}
                onClick={() => void current.refetch()}
                aria-label={t('mcp.checkLabel', { name: server.name })}
              >
                {t('mcp.check')}
              </Button>
            )}
            <Button
              className="px-2 py-1"
              variant={server.enabled ? 'secondary' : 'primary'}
              busy={toggle.isPending}
              onClick={() => toggle.mutate()}
              aria-label={t(server.enabled ? 'mcp.disableLabel' : 'mcp.enableLabel', { name: server.name })}
            >
              {t(server.enabled ? 'mcp.disable' : 'mcp.enable')}
            </Button>
            <ConfirmButton
              label={t('mcp.remove')}
              accessibleLabel={t('mcp.removeLabel', { name: server.name })}
              title={t('mcp.removeTitle', { name: server.name })}
              text={t('mcp.removeText', { toolSet: server.toolSet })}
              confirmLabel={t('mcp.removeConfirm')}
              busy={remove.isPending}
              error={remove.error}
              onConfirm={async () => {
                try {
                  await remove.mutateAsync()
                  return true
                } catch {
                  return false
                }
              }}
            />
          </div>
        </div>
        <ErrorNote error={toggle.error ?? current.error} words={words} />
        {server.status === 'error' && (
          <p className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-50">
            <span className="font-medium">{t('mcp.lastError')}</span>{' '}
            <span className="break-words">{server.lastError ?? t('mcp.noErrorText')}</span>
          </p>
        )}
        {server.status === 'unknown' && <p className="text-sm">{t('mcp.unknownHint')}</p>}
        {server.status === 'disabled' && <p className="text-sm">{t('mcp.disabledHint')}</p>}
        <dl className="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
          <div>
            <dt className="inline text-slate-600 dark:text-slate-400">{t('mcp.transport')}: </dt>
            <dd className="inline">{t(`mcp.transport.${server.transport}`)}</dd>
          </div>
          {server.transport === 'http' ? (
            <div className="min-w-0">
              <dt className="inline text-slate-600 dark:text-slate-400">{t('mcp.url')}: </dt>
              <dd className="inline font-mono break-all">{server.url}</dd>
            </div>
          ) : (
            <div className="min-w-0">
              <dt className="inline text-slate-600 dark:text-slate-400">{t('mcp.command')}: </dt>
              <dd className="inline font-mono break-all">{[server.command, ...server.args].join(' ')}</dd>
            </div>
          )}
          {(server.transport === 'http' ? server.headerNames : server.envNames).length > 0 && (
            <div className="min-w-0">
              <dt className="inline text-slate-600 dark:text-slate-400">
                {t(server.transport === 'http' ? 'mcp.headerNames' : 'mcp.envNames')}:{' '}
              </dt>
              <dd className="inline font-mono break-all">
                {(server.transport === 'http' ? server.headerNames : server.envNames).join(', ')}
              </dd>
            </div>
          )}
          {server.toolsCheckedAt && (
            <div>
              <dt className="inline text-slate-600 dark:text-slate-400">{t('mcp.checked')}: </dt>
              <dd className="inline">
                <time dateTime={server.toolsCheckedAt}>{formatRelative(server.toolsCheckedAt, lang)}</time>
              </dd>
            </div>
          )}
        </dl>
        <ApprovalSettings server={server} onSaved={saved} />
      </article>
    </Card>
  )
}

/** The server's tools, and which of them wait for a person's approval. */
function ApprovalSettings({ server, onSaved }: { server: McpServer; onSaved: (next: McpServer) => void }) {
  const { t } = useI18n()
  const api = mcpServersApi(useSignedIn())
  const [all, setAll] = useState(server.requireApproval === '*')
  const [names, setNames] = useState<string[]>(server.requireApproval === '*' ? [] : server.requireApproval)
  const save = useMutation({
    mutationFn: () => api.update(server.id, { requireApproval: all ? '*' : names }),
    onSuccess: onSaved,
  })
  const saved = server.requireApproval
  const changed = all ? saved !== '*' : saved === '*' || [...saved].sort().join() !== [...names].sort().join()
  // Tools the server lists, and names listed for approval the server does not (or not yet) offer.
  const toolNames = [
    ...server.tools.map((tool) => tool.name),
    ...names.filter((n) => !server.tools.some((tool) => tool.name === n)),
  ]
  const descriptions = new Map(server.tools.map((tool) => [tool.name, tool.description]))
  return (
    <fieldset className="space-y-2">
      <legend className="text-sm font-medium">{t('mcp.tools', { n: server.tools.length })}</legend>
      {server.tools.length === 0 && (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          {server.enabled ? t('mcp.noTools') : t('mcp.toolsWhenEnabled')}
        </p>
      )}
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" className="h-4 w-4" checked={all} onChange={(e) => setAll(e.target.checked)} />
        {t('mcp.approveAll')}
      </label>
      {toolNames.length > 0 && (
        <ul className="space-y-1" data-testid="mcp-tools">
          {toolNames.map((name) => (
            <li key={name}>
              <label className="flex items-start gap-2 text-sm">
                <input
                  type="checkbox"
                  className="mt-0.5 h-4 w-4"
                  disabled={all}
                  checked={all || names.includes(name)}
                  onChange={(e) =>
                    setNames((current) =>
                      e.target.checked ? [...current, name] : current.filter((n) => n !== name),
                    )
                  }
                  aria-label={t('mcp.approveTool', { tool: name })}
                />
                <span className="min-w-0">
                  <span className="font-mono break-all">{name}</span>
                  {needsApproval({ requireApproval: saved }, name) && (
                    <span className="ml-2 rounded bg-amber-100 px-1.5 py-0.5 text-xs text-amber-900 dark:bg-amber-900 dark:text-amber-100">
                      {t('tools.needsApproval')}
                    </span>
                  )}
                  {descriptions.get(name) && (
                    <span className="block text-xs break-words text-slate-600 dark:text-slate-400">
                      {descriptions.get(name)}
                    </span>
                  )}
                </span>
              </label>
            </li>
          ))}
        </ul>
      )}
      <ErrorNote error={save.error} />
      {changed && (
        <Button className="px-2 py-1" busy={save.isPending} onClick={() => save.mutate()}>
          {t('mcp.saveApprovals')}
        </Button>
      )}
    </fieldset>
  )
}

function SecretRows({
  legend,
  rows,
  onChange,
  namePlaceholder,
}: {
  legend: string
  rows: SecretRow[]
  onChange: (rows: SecretRow[]) => void
  namePlaceholder: string
}) {
  const { t } = useI18n()
  const set = (i: number, row: SecretRow) => onChange(rows.map((r, j) => (j === i ? row : r)))
  return (
    <fieldset className="space-y-2">
      <legend className="text-sm font-medium">{legend}</legend>
      <p className="text-xs text-slate-600 dark:text-slate-400">{t('mcp.secretHint')}</p>
      {rows.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div key={i} className="grid grid-cols-[1fr_1fr_auto] gap-2">
          <TextInput
            aria-label={t('mcp.rowName', { n: i + 1 })}
            placeholder={namePlaceholder}
            value={row.name}
            spellCheck={false}
            onChange={(e) => set(i, { ...row, name: e.target.value })}
          />
          <TextInput
            aria-label={t('mcp.rowValue', { n: i + 1 })}
            type="password"
            autoComplete="off"
            value={row.value}
            onChange={(e) => set(i, { ...row, value: e.target.value })}
          />
          <Button
            variant="ghost"
            className="px-2"
            aria-label={t('mcp.rowRemove', { n: i + 1 })}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            ✕
          </Button>
        </div>
      ))}
      <Button className="px-2 py-1" onClick={() => onChange([...rows, { name: '', value: '' }])}>
        {t('mcp.rowAdd')}
      </Button>
    </fieldset>
  )
}

function AddServer() {
  const { t } = useI18n()
  const api = mcpServersApi(useSignedIn())
  const queryClient = useQueryClient()
  const headingId = useId()
  const [values, setValues] = useState<McpFormValues>(emptyMcpForm)
  const [duplicate, setDuplicate] = useState<string | null>(null)
  const [added, setAdded] = useState<McpServer | null>(null)
  const set = <K extends keyof McpFormValues>(key: K, value: McpFormValues[K]) =>
    setValues((v) => ({ ...v, [key]: value }))
  const create = useMutation({
    mutationFn: (body: Parameters<typeof api.create>[0]) => api.create(body),
    onSuccess: (server) => {
      setAdded(server)
      setValues(emptyMcpForm)
      void queryClient.invalidateQueries({ queryKey: ['mcp-servers'] })
      void queryClient.invalidateQueries({ queryKey: ['tools'] })
    },
  })
  const fieldErrors = new Map<string, string>()
  if (create.error instanceof ApiError)
    for (const e of create.error.problem?.errors ?? [])
      fieldErrors.set(e.field.replace(/^body\./, ''), e.message)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    setAdded(null)
    const made = createBodyOf(values)
    if ('duplicate' in made) {
      setDuplicate(made.duplicate)
      return
    }
    setDuplicate(null)
    create.mutate(made.body)
  }
  return (
    <Card>
      <section aria-labelledby={headingId}>
        <h2 id={headingId} className="text-lg font-semibold">
          {t('mcp.add')}
        </h2>
        <form onSubmit={submit} className="mt-3 space-y-4" noValidate>
          <Field label={t('mcp.name')} hint={t('mcp.nameHint')} error={fieldErrors.get('name')}>
            {(props) => (
              <TextInput
                {...props}
                required
                spellCheck={false}
                autoCapitalize="off"
                value={values.name}
                onChange={(e) => set('name', e.target.value)}
              />
            )}
          </Field>
          <fieldset>
            <legend className="text-sm font-medium">{t('mcp.transport')}</legend>
            <div className="mt-1 flex flex-wrap gap-4">
              {(['http', 'stdio'] as const).map((transport) => (
                <label key={transport} className="flex items-center gap-2 text-sm">
                  <input
                    type="radio"
                    name="mcp-transport"
                    className="h-4 w-4"
                    checked={values.transport === transport}
                    onChange={() => set('transport', transport)}
                  />
                  {t(`mcp.transport.${transport}`)}
                </label>
              ))}
            </div>
          </fieldset>
          {values.transport === 'http' ? (
            <>
              <Field label={t('mcp.url')} hint={t('mcp.urlHint')} error={fieldErrors.get('url')}>
                {(props) => (
                  <TextInput
                    {...props}
                    type="url"
                    inputMode="url"
                    placeholder="https://mcp.example.com/mcp"
                    value={values.url}
                    onChange={(e) => set('url', e.target.value)}
                  />
                )}
              </Field>
              <SecretRows
                legend={t('mcp.headers')}
                rows={values.headers}
                onChange={(rows) => set('headers', rows)}
                namePlaceholder="Authorization"
              />
            </>
          ) : (
            <>
              <p className="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50">
                {t('mcp.stdioNote')}
              </p>
              <Field label={t('mcp.command')} hint={t('mcp.commandHint')} error={fieldErrors.get('command')}>
                {(props) => (
                  <TextInput
                    {...props}
                    spellCheck={false}
                    placeholder="npx"
                    value={values.command}
                    onChange={(e) => set('command', e.target.value)}
                  />
                )}
              </Field>
              <Field label={t('mcp.args')} hint={t('mcp.argsHint')} error={fieldErrors.get('args')}>
                {(props) => (
                  <TextArea
                    {...props}
                    rows={3}
                    spellCheck={false}
                    value={values.args}
                    onChange={(e) => set('args', e.target.value)}
                  />
                )}
              </Field>
              <SecretRows
                legend={t('mcp.env')}
                rows={values.env}
                onChange={(rows) => set('env', rows)}
                namePlaceholder="API_TOKEN"
              />
            </>
          )}
          <fieldset className="space-y-2">
            <legend className="text-sm font-medium">{t('mcp.approvals')}</legend>
            <label className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                className="h-4 w-4"
                checked={values.approveAll}
                onChange={(e) => set('approveAll', e.target.checked)}
              />
              {t('mcp.approveAll')}
            </label>
            {!values.approveAll && (
              <Field label={t('mcp.approveNames')} hint={t('mcp.approveNamesHint')}>
                {(props) => (
                  <TextInput
                    {...props}
                    spellCheck={false}
                    placeholder="delete_contact, send_email"
                    value={values.approveNames}
                    onChange={(e) => set('approveNames', e.target.value)}
                  />
                )}
              </Field>
            )}
          </fieldset>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="h-4 w-4"
              checked={values.enabled}
              onChange={(e) => set('enabled', e.target.checked)}
            />
            {t('mcp.enableNow')}
          </label>
          {duplicate !== null && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300">
              {t('mcp.duplicate', { name: duplicate })}
            </p>
          )}
          <ErrorNote error={create.error} words={words} />
          <div aria-live="polite">
            {added && (
              <p className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-950 dark:border-emerald-700 dark:bg-emerald-950 dark:text-emerald-50">
                {t('mcp.added', { name: added.name, toolSet: added.toolSet })}
              </p>
            )}
          </div>
          <Button type="submit" variant="primary" busy={create.isPending}>
            {t('mcp.addSubmit')}
          </Button>
        </form>
      </section>
    </Card>
  )
}
