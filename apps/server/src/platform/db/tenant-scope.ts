import { AsyncLocalStorage } from 'node:async_hooks'
import { type Kysely, sql } from 'kysely'

// Row-level security's tenant (decision 0042-row-level-security). Work done for one workspace's
// caller runs inside `withTenantScope`: every PostgreSQL connection it takes carries the setting
// `openorch.tenant_id`, and the policies on every tenant-scoped table hide and refuse other
// workspaces' rows, so a query that forgets its `tenant_id` condition finds nothing of theirs.
// The orchestrator's own work (the scheduler, the relay, the workers' claims) runs unscoped and sees
// every workspace, as it must. SQLite has no row-level security; the scope is then only carried.

interface TenantScope {
  readonly tenantId: string
  /** Cleared when the request ends: a timer or loop it started and left behind runs unscoped. */
  active: boolean
}

const scopes = new AsyncLocalStorage<TenantScope | undefined>()

/** Runs `fn` with the database scoped to one workspace. */
export function withTenantScope<T>(tenantId: string, fn: () => T): T {
  return scopes.run({ tenantId, active: true }, fn)
}

/** A scope to enter now and end later: a request enters it before its handler and ends it with its response. */
export interface TenantScopeHandle {
  run<T>(fn: () => T): T
  /** Work the request started and left behind (a timer, a loop) runs unscoped from here on. */
  end(): void
}

export function openTenantScope(tenantId: string): TenantScopeHandle {
  const scope: TenantScope = { tenantId, active: true }
  return {
    run: (fn) => scopes.run(scope, fn),
    end() {
      scope.active = false
    },
  }
}

/**
 * Runs `fn` outside any workspace's scope: wake-ups of the orchestrator's own loops that a request's
 * commit triggers must not inherit that request's workspace (a worker woken by it claims for all).
 */
export function withoutTenantScope<T>(fn: () => T): T {
  return scopes.run(undefined, fn)
}

/** The workspace the current work is scoped to; '' when unscoped (the orchestrator's own work). */
export function currentTenantScope(): string {
  const scope = scopes.getStore()
  return scope?.active ? scope.tenantId : ''
}

/**
 * Runs `fn` inside the transaction `trx` with its workspace scope lifted, then puts it back: for the
 * few reads that must see every workspace while serving one (the audit chain's head is the last
 * entry of any workspace). Only the orchestrator's own code calls this, for a named reason.
 */
export async function acrossTenantsIn<DB, T>(
  trx: Kysely<DB>,
  dialect: 'sqlite' | 'postgres',
  fn: () => Promise<T>,
): Promise<T> {
  if (dialect !== 'postgres') return fn()
  const { rows } = await sql<{
    scope: string
  }>`SELECT coalesce(current_setting('openorch.tenant_id', true), '') AS scope`.execute(trx)
  const scope = rows[0]?.scope ?? ''
  if (scope === '') return fn()
  await sql`SELECT set_config('openorch.tenant_id', '', true)`.execute(trx)
  const result = await fn()
  await sql`SELECT set_config('openorch.tenant_id', ${scope}, true)`.execute(trx)
  return result
}

/**
 * `target` with every method run outside any workspace's scope: the queue's statements claim, settle
 * and rescue across workspaces, whoever's request woke the loop that calls them (attack finding: a
 * claim made in a workspace's scope leased other workspaces' runs it then could not start).
 */
export function unscopedMethods<T extends object>(target: T): T {
  const wrapped = { ...target }
  for (const [name, value] of Object.entries(target))
    if (typeof value === 'function')
      (wrapped as Record<string, unknown>)[name] = (...args: unknown[]) =>
        withoutTenantScope(() => value.apply(target, args))
  return wrapped
}
