import { ApiError } from '@openorch/sdk'
import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query'
import {
  type FormEvent,
  lazy,
  type KeyboardEvent as ReactKeyboardEvent,
  type ReactNode,
  Suspense,
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react'
import { ModeBanner } from './components/mode-banner.tsx'
import { Preferences } from './components/preferences.tsx'
import { cx, Loading, TextInput } from './components/ui.tsx'
import { ClientProvider, clientFor, useClient, useSignedIn } from './lib/api.tsx'
import { I18nProvider, useI18n } from './lib/i18n.tsx'
import { type FeedState, LiveFeedProvider, useFeedState } from './lib/live.tsx'
import { Link, match, navigate, useLocation } from './lib/router.tsx'
import { loadSession, type Session, saveSession } from './lib/session.ts'
import { SignOutProvider, signOutEverywhereId } from './lib/sign-out.tsx'
import { botsQuery, Dashboard } from './pages/dashboard.tsx'
import { SignIn, type SignInNotice } from './pages/sign-in.tsx'

// Pages past the dashboard load on demand, so the first load stays small.
const Onboarding = lazy(() => import('./pages/onboarding.tsx'))
const Providers = lazy(() => import('./pages/providers.tsx'))
const NewBot = lazy(() => import('./pages/new-bot.tsx'))
const EditBot = lazy(() => import('./pages/edit-bot.tsx'))
const BotDetail = lazy(() => import('./pages/bot-detail.tsx'))
const RunDetail = lazy(() => import('./pages/run-detail.tsx'))
const UsagePage = lazy(() => import('./pages/usage.tsx'))
const Search = lazy(() => import('./pages/search.tsx'))
const Team = lazy(() => import('./pages/team.tsx'))
const Account = lazy(() => import('./pages/account.tsx'))
const Workspaces = lazy(() => import('./pages/workspaces.tsx'))
const Approvals = lazy(() => import('./pages/approvals.tsx'))
const ApprovalDetail = lazy(() =>
  import('./pages/approvals.tsx').then((module) => ({ default: module.ApprovalDetail })),
)
const McpServers = lazy(() => import('./pages/mcp-servers.tsx'))
const Pipelines = lazy(() => import('./pages/pipelines.tsx'))
const PipelineEditor = lazy(() => import('./pages/pipeline-editor.tsx'))
const Channels = lazy(() => import('./pages/channels.tsx'))

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession)
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 10_000,
            refetchOnWindowFocus: false,
            retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
          },
        },
      }),
  )
  const [notice, setNotice] = useState<SignInNotice | null>(null)
  const signIn = useCallback(
    (next: Session | null, why: SignInNotice | null = null) => {
      saveSession(next)
      queryClient.clear()
      setNotice(why)
      setSession(next)
    },
    [queryClient],
  )
  // One client per sign-in: a user session's refreshed tokens are stored by the client itself, so
  // the client (and the live feed on it) is not rebuilt on every refresh.
  const signedIn = useMemo(
    () => (session ? clientFor(session, () => signIn(null, 'ended')) : null),
    [session, signIn],
  )
  const signOut = useCallback((why: SignInNotice) => signIn(null, why), [signIn])
  return (
    <I18nProvider>
      <QueryClientProvider client={queryClient}>
        {signedIn ? (
          <ClientProvider value={signedIn}>
            <LiveFeedProvider>
              <SignOutProvider value={signOut}>
                <Shell onSignOut={signOut} />
              </SignOutProvider>
            </LiveFeedProvider>
          </ClientProvider>
        ) : (
          <SignIn onSignedIn={(next) => signIn(next)} notice={notice} />
        )}
      </QueryClientProvider>
    </I18nProvider>
  )
}

const routes: { pattern: string; render: (params: Record<string, string>) => ReactNode }[] = [
  { pattern: '/', render: () => <Dashboard /> },
  { pattern: '/onboarding', render: () => <Onboarding /> },
  { pattern: '/providers', render: () => <Providers /> },
  { pattern: '/bots/new', render: () => <NewBot /> },
  { pattern: '/bots/:id/edit', render: (p) => <EditBot id={p.id!} /> },
  { pattern: '/bots/:id', render: (p) => <BotDetail id={p.id!} /> },
  { pattern: '/runs/:id', render: (p) => <RunDetail id={p.id!} /> },
  { pattern: '/pipelines', render: () => <Pipelines /> },
  { pattern: '/pipelines/new', render: () => <PipelineEditor /> },
  { pattern: '/pipelines/:id', render: (p) => <PipelineEditor key={p.id} id={p.id!} /> },
  // A pipeline's run under its pipeline's address: the run page, which shows its steps.
  { pattern: '/pipelines/:pipelineId/runs/:id', render: (p) => <RunDetail id={p.id!} /> },
  { pattern: '/usage', render: () => <UsagePage /> },
  { pattern: '/search', render: () => <Search /> },
  { pattern: '/team', render: () => <Team /> },
  { pattern: '/account', render: () => <Account /> },
  { pattern: '/workspaces', render: () => <Workspaces /> },
  { pattern: '/approvals', render: () => <Approvals /> },
  { pattern: '/approvals/:id', render: (p) => <ApprovalDetail id={p.id!} /> },
  { pattern: '/mcp-servers', render: () => <McpServers /> },
  { pattern: '/channels', render: () => <Channels /> },
]

function Routes() {
  const { path } = useLocation()
  let page: ReactNode = <NotFound />
  for (const route of routes) {
    const params = match(route.pattern, path)
    if (params) {
      page = route.render(params)
      break
    }
  }
  return <Suspense fallback={<Loading />}>{page}</Suspense>
}

function NotFound() {
  const { t } = useI18n()
  return (
    <div>
      <h1 className="text-2xl font-semibold">{t('notFound.title')}</h1>
      <p className="mt-2">
        <Link href="/">{t('notFound.back')}</Link>
      </p>
    </div>
  )
}

/** First visit with no provider: the onboarding wizard, unless the person skipped it in this tab. */
function useOnboardingRedirect() {
  const client = useClient()
  const { path } = useLocation()
  const queryClient = useQueryClient()
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => client.providers.list() })
  // The page waits for this check; on the dashboard, fetch the bots meanwhile instead of after it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only for the path the shell opened with
  useEffect(() => {
    if (path === '/') void queryClient.prefetchInfiniteQuery(botsQuery(client))
  }, [client, queryClient])
  useEffect(() => {
    if (!providers.data || providers.data.items.length > 0) return
    if (path === '/onboarding' || path === '/providers') return
    if (sessionStorage.getItem('openorch.onboarding.skipped')) return
    navigate('/onboarding', { replace: true })
  }, [providers.data, path])
  return providers
}

function Shell({ onSignOut }: { onSignOut: (why: SignInNotice) => void }) {
  const { t } = useI18n()
  const { path } = useLocation()
  const main = useRef<HTMLElement>(null)
  const providers = useOnboardingRedirect()
  const first = useRef(true)
  const queryClient = useQueryClient()

  // A revoked key or a session that could not be refreshed shows the sign-in again (with a word
  // why) instead of a page of errors.
  useEffect(
    () =>
      queryClient.getQueryCache().subscribe((event) => {
        const error = event.query.state.error
        if (error instanceof ApiError && error.status === 401) onSignOut('ended')
      }),
    [queryClient, onSignOut],
  )

  // After a navigation, focus goes to the page so a screen reader starts at its content.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on each new path
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    main.current?.focus()
  }, [path])

  const canManageTeam = useCanManageTeam()
  const canManageWorkspaces = useCanManageWorkspaces()
  const pendingApprovals = usePendingApprovals()
  const nav: NavItem[] = [
    { href: '/', label: t('nav.bots') },
    { href: '/pipelines', label: t('nav.pipelines') },
    { href: '/approvals', label: t('nav.approvals'), badge: pendingApprovals },
    { href: '/channels', label: t('nav.channels') },
    { href: '/usage', label: t('nav.usage') },
    { href: '/providers', label: t('nav.providers') },
    // MCP servers and the team are for admins (the same check: the server's list answers them only).
    ...(canManageTeam ? [{ href: '/mcp-servers', label: t('nav.mcpServers') }] : []),
    ...(canManageTeam ? [{ href: '/team', label: t('nav.team') }] : []),
    ...(canManageWorkspaces ? [{ href: '/workspaces', label: t('nav.workspaces') }] : []),
  ]
  const current = (href: string) =>
    href === '/' ? path === '/' || path.startsWith('/bots') : path.startsWith(href)
  const wide = useMediaQuery('(min-width: 640px)')

  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded focus:bg-white focus:p-2 dark:focus:bg-slate-900"
      >
        {t('nav.skip')}
      </a>
      <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
          <Link
            href="/"
            className="flex items-center gap-2 font-semibold text-slate-900 no-underline dark:text-white"
          >
            <img src="/icon.svg" alt="" width={28} height={28} />
            openOrchestrator
          </Link>
          {wide ? (
            <>
              <nav aria-label={t('nav.main')}>
                <NavLinks items={nav} current={current} />
              </nav>
              <div className="ml-auto flex flex-wrap items-center gap-2">
                <SearchBox />
                <FeedIndicator />
                <Preferences />
                <AccountMenu onSignOut={onSignOut} />
              </div>
            </>
          ) : (
            // A phone: two rows — the name, the menu (pages and preferences) and the account; then
            // the search and the live state.
            <>
              <div className="ml-auto flex items-center gap-1">
                <PhoneMenu items={nav} current={current} badge={pendingApprovals} />
                <AccountMenu onSignOut={onSignOut} compact />
              </div>
              <div className="flex w-full items-center gap-2">
                <SearchBox className="min-w-0 flex-1" />
                <FeedIndicator />
              </div>
            </>
          )}
        </div>
      </header>
      <ModeBanner />
      <main id="main" ref={main} tabIndex={-1} className="mx-auto max-w-6xl px-4 py-6 outline-none">
        {providers.isLoading ? <Loading /> : <Routes />}
      </main>
    </div>
  )
}

type NavItem = { href: string; label: string; badge?: string | null }

/**
 * How many approvals wait ("100+" past one page), null when none; the live feed's `approval.*`
 * events refresh it.
 */
function usePendingApprovals(): string | null {
  const client = useClient()
  const pending = useQuery({
    queryKey: ['approvals', 'pending-count'],
    queryFn: () => client.approvals.list({ status: 'pending', limit: 100 }),
  })
  const n = pending.data?.items.length ?? 0
  if (n === 0) return null
  return pending.data?.nextCursor ? `${n}+` : String(n)
}

/** A count beside a nav entry (or, `overlay`, on the corner of the phone's menu button), read out as "(3 waiting)". */
function CountBadge({
  count,
  testId,
  overlay = false,
}: {
  count: string
  testId?: string
  overlay?: boolean
}) {
  const { t } = useI18n()
  return (
    <>
      <span
        aria-hidden="true"
        data-testid={testId}
        className={cx(
          'inline-block min-w-5 rounded-full bg-amber-200 px-1.5 text-center text-xs font-semibold text-amber-950 dark:bg-amber-300 dark:text-slate-950',
          overlay ? 'absolute -top-1.5 -right-2' : 'ml-1.5',
        )}
      >
        {count}
      </span>
      <span className="sr-only"> {t('nav.waiting', { n: count })}</span>
    </>
  )
}

function NavLinks({
  items,
  current,
  onNavigate,
  column = false,
}: {
  items: NavItem[]
  current: (href: string) => boolean
  onNavigate?: () => void
  column?: boolean
}) {
  return (
    <ul className={column ? 'flex flex-col gap-1' : 'flex gap-1'}>
      {items.map((item) => (
        <li key={item.href}>
          <Link
            href={item.href}
            onClick={onNavigate}
            aria-current={current(item.href) ? 'page' : undefined}
            className="block rounded-md px-3 py-2 text-sm font-medium text-slate-700 no-underline hover:bg-slate-100 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-800 dark:text-slate-200 dark:hover:bg-slate-800 dark:aria-[current=page]:bg-indigo-950 dark:aria-[current=page]:text-indigo-200"
          >
            {item.label}
            {item.badge && <CountBadge count={item.badge} testId="approvals-badge" />}
          </Link>
        </li>
      ))}
    </ul>
  )
}

/** Whether a media query matches now (and re-renders when that changes). */
function useMediaQuery(query: string): boolean {
  const subscribe = useCallback(
    (callback: () => void) => {
      const list = window.matchMedia(query)
      list.addEventListener('change', callback)
      return () => list.removeEventListener('change', callback)
    },
    [query],
  )
  return useSyncExternalStore(subscribe, () => window.matchMedia(query).matches)
}

/** Escape closes an open <details> menu and gives focus back to its button. */
function closeOnEscape(menu: { current: HTMLDetailsElement | null }) {
  return (event: ReactKeyboardEvent) => {
    if (event.key !== 'Escape' || !menu.current?.open) return
    menu.current.open = false
    menu.current.querySelector('summary')?.focus()
  }
}

/** On a phone: the pages and the preferences behind one button. */
function PhoneMenu({
  items,
  current,
  badge,
}: {
  items: NavItem[]
  current: (href: string) => boolean
  badge: string | null
}) {
  const { t } = useI18n()
  const menu = useRef<HTMLDetailsElement>(null)
  const close = () => {
    if (menu.current) menu.current.open = false
  }
  return (
    <details ref={menu} onKeyDown={closeOnEscape(menu)} data-testid="phone-menu">
      <summary className="relative flex cursor-pointer list-none items-center gap-1 rounded-md px-2 py-1 text-sm text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800 [&::-webkit-details-marker]:hidden">
        <span aria-hidden="true">☰</span> {t('nav.menu')}
        {badge && <CountBadge count={badge} overlay />}
      </summary>
      <div className="fixed inset-x-4 z-20 mt-1 space-y-3 rounded-md border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-800">
        <nav aria-label={t('nav.main')}>
          <NavLinks items={items} current={current} onNavigate={close} column />
        </nav>
        <div className="flex flex-wrap gap-2 px-3 pb-1">
          <Preferences />
        </div>
      </div>
    </details>
  )
}

/**
 * Whether the Team page is for this person: a user's role says so; an API key's role is not known to
 * the dashboard, so it asks the server (the list the Team page shows anyway).
 */
function useCanManageTeam(): boolean {
  const { client, session, credentials } = useSignedIn()
  const role = session.kind === 'jwt' ? (credentials?.current()?.user.role ?? session.user.role) : undefined
  const probe = useQuery({
    queryKey: ['users'],
    queryFn: () => client.users.list({ limit: 100 }),
    enabled: session.kind === 'apiKey',
  })
  if (session.kind === 'jwt') return role === 'admin' || role === 'owner'
  return probe.isSuccess
}

/**
 * Whether the Workspaces page is for this person: an installation admin (an owner of the default
 * workspace, decision 0020). Only owners ask the server, which alone knows the workspace.
 */
function useCanManageWorkspaces(): boolean {
  const { client, session, credentials } = useSignedIn()
  const role = session.kind === 'jwt' ? (credentials?.current()?.user.role ?? session.user.role) : undefined
  const probe = useQuery({
    queryKey: ['workspaces'],
    queryFn: () => client.workspaces.list({ limit: 200 }),
    enabled: session.kind === 'apiKey' || role === 'owner',
  })
  return probe.isSuccess
}

/**
 * Who is signed in, "sign out" and (for a user) "sign out everywhere": that one leads to the Account
 * page's section, whose dialog lists the personal keys it revokes before anything ends.
 */
function AccountMenu({
  onSignOut,
  compact = false,
}: {
  onSignOut: (why: SignInNotice) => void
  compact?: boolean
}) {
  const { t } = useI18n()
  const { client, session, credentials } = useSignedIn()
  const [busy, setBusy] = useState(false)
  const menu = useRef<HTMLDetailsElement>(null)
  const onKeyDown = closeOnEscape(menu)
  const close = () => {
    if (menu.current) menu.current.open = false
  }
  const signOut = async () => {
    setBusy(true)
    // Sign out on the server first; when that fails (offline), the tab forgets the session anyway.
    try {
      const refreshToken = credentials?.current()?.refreshToken
      if (refreshToken) await client.auth.logout(refreshToken)
    } catch {}
    credentials?.forget()
    onSignOut('signedOut')
  }
  const item =
    'block w-full rounded-md px-3 py-2 text-left text-sm text-slate-800 hover:bg-slate-100 disabled:opacity-60 dark:text-slate-100 dark:hover:bg-slate-700'
  // On a phone the menu's button sits mid-row, so the panel spans the screen (fixed) instead of
  // hanging off its left edge.
  return (
    <details ref={menu} className="sm:relative" onKeyDown={onKeyDown} data-testid="account-menu">
      <summary className="flex max-w-32 sm:max-w-48 cursor-pointer list-none items-center gap-1 rounded-md px-2 py-1 text-sm text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800 [&::-webkit-details-marker]:hidden">
        <span className="sr-only">{t('nav.account')}: </span>
        {/* On a phone an e-mail would push the header onto a third row: a person icon instead. */}
        {compact && session.kind === 'jwt' && <span aria-hidden="true">👤</span>}
        <span className={compact && session.kind === 'jwt' ? 'sr-only' : 'truncate'}>
          {session.kind === 'jwt' ? session.user.email : t('nav.apiKey')}
        </span>
        <span aria-hidden="true">▾</span>
      </summary>
      <div className="fixed inset-x-4 z-20 mt-1 rounded-md sm:absolute sm:inset-x-auto sm:right-0 sm:w-64 border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-800">
        <p className="px-3 py-1 text-xs break-all text-slate-600 dark:text-slate-300">
          {session.kind === 'jwt'
            ? `${t('nav.signedInAs', { email: session.user.email })} · ${t('nav.signedInRole', { role: session.user.role })}`
            : t('nav.signedInWithKey')}
        </p>
        <Link href="/account" className={`${item} no-underline`} onClick={close}>
          {t('nav.accountPage')}
        </Link>
        <button type="button" className={item} disabled={busy} onClick={() => void signOut()}>
          {t('nav.signOut')}
        </button>
        {/* It revokes the personal keys too: the Account page names them and asks first (issue 11). */}
        {session.kind === 'jwt' && (
          <Link
            href={`/account#${signOutEverywhereId}`}
            className={`${item} no-underline`}
            title={t('nav.signOutEverywhereHint')}
            onClick={close}
          >
            {t('nav.signOutEverywhere')}
          </Link>
        )}
      </div>
    </details>
  )
}

function SearchBox({ className }: { className?: string }) {
  const { t } = useI18n()
  const { path, query } = useLocation()
  const [text, setText] = useState(path === '/search' ? (query.get('q') ?? '') : '')
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => {
    // "/" or Ctrl/⌘+K jumps to the search box from anywhere but a text field.
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement
      const typing = target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)
      if ((event.key === '/' && !typing) || (event.key === 'k' && (event.ctrlKey || event.metaKey))) {
        event.preventDefault()
        input.current?.focus()
        input.current?.select()
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])
  const submit = (event: FormEvent) => {
    event.preventDefault()
    if (text.trim().length >= 2) navigate(`/search?q=${encodeURIComponent(text.trim())}`)
  }
  return (
    <search className={className}>
      <form onSubmit={submit} className="flex items-center">
        <label htmlFor="global-search" className="sr-only">
          {t('search.label')}
        </label>
        <TextInput
          id="global-search"
          ref={input}
          type="search"
          value={text}
          onChange={(event) => setText(event.target.value)}
          placeholder={t('search.placeholder')}
          aria-keyshortcuts="/ Control+K"
          className={className ? 'w-full py-1.5' : 'w-44 py-1.5'}
        />
      </form>
    </search>
  )
}

function FeedIndicator() {
  const { t } = useI18n()
  const state: FeedState = useFeedState()
  const dot = {
    live: 'bg-emerald-500',
    connecting: 'bg-amber-400',
    reconnecting: 'bg-amber-500',
    refused: 'bg-red-600',
  }[state]
  return (
    <output className="flex items-center gap-1 text-xs text-slate-600 dark:text-slate-300">
      <span aria-hidden="true" className={`inline-block h-2 w-2 rounded-full ${dot}`} />
      {t(`feed.${state}`)}
    </output>
  )
}
