import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { RunService } from '../runs/runs.ts'
import { ProviderError } from './provider.error.ts'

// A circuit breaker per workspace and provider (issue 15, decision 0034), shared by every process
// through `provider_circuits`: closed → open after `failures` transient failures in a row → after
// `cooldownMs` one call may probe (half-open) → closed when it succeeds, open again when it fails.
// While open, bot runs use their fallback models or park (`provider_open`) until it closes. Reads are
// cached per process for a second: a stale "closed" costs one more call to a failing provider, never
// a lost run.

export type CircuitState = 'closed' | 'open' | 'half_open'

export interface Circuit {
  state: CircuitState
  failures: number
  openedAt: number | null
}

export type Admission = { call: true; probe: boolean } | { call: false; retryAt: number }

/** The correlation keys runs park under while a provider's circuit is open: this prefix and the run's id. */
export const providerOpenKey = (provider: string) => `provider_open:${provider}:`
export const providerOpenReason = 'provider_open'

export interface CircuitBreakerOptions {
  /** Transient failures in a row that open the circuit (default 5). */
  failures?: number
  /** How long it stays open before one call may probe (default 30 s). */
  cooldownMs?: number
  /** How long a probe holds a half-open circuit before another call may probe (default 2 min). */
  probeMs?: number
}

const cacheMs = 1000

export function createCircuitBreaker(
  deps: {
    database: Db
    clock: Clock
    runs: Pick<RunService, 'appendEventsIn' | 'wakeWaitingIn'>
  } & CircuitBreakerOptions,
) {
  const { database, clock } = deps
  const threshold = deps.failures ?? 5
  const cooldownMs = deps.cooldownMs ?? 30_000
  const probeMs = deps.probeMs ?? 120_000
  const cache = new Map<string, { circuit: Circuit; probeUntil: number | null; readAt: number }>()
  const keyOf = (tenantId: string, provider: string) => `${tenantId}\u0000${provider}`

  async function read(tenantId: string, provider: string, fresh = false) {
    const key = keyOf(tenantId, provider)
    const cached = cache.get(key)
    const now = clock.now()
    if (!fresh && cached && now - cached.readAt < cacheMs) return cached
    const row = await database.db
      .selectFrom('provider_circuits')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('provider', '=', provider)
      .executeTakeFirst()
    const entry = {
      circuit: {
        state: (row?.state ?? 'closed') as CircuitState,
        failures: row?.failures ?? 0,
        openedAt: row?.opened_at === null || row === undefined ? null : Number(row.opened_at),
      },
      probeUntil: row?.probe_until === null || row === undefined ? null : Number(row.probe_until),
      readAt: now,
    }
    cache.set(key, entry)
    return entry
  }

  /** Whether a call to `provider` may go out now: always while closed; one probe after the cool-down. */
  async function admit(tenantId: string, provider: string): Promise<Admission> {
    const { circuit, probeUntil } = await read(tenantId, provider)
    if (circuit.state === 'closed') return { call: true, probe: false }
    const now = clock.now()
    const probeAt = (circuit.openedAt ?? now) + cooldownMs
    if (now < probeAt) return { call: false, retryAt: probeAt }
    if (circuit.state === 'half_open' && probeUntil !== null && now < probeUntil)
      return { call: false, retryAt: probeUntil }
    // Past the cool-down: exactly one caller (of every process) takes the probe.
    const taken = await writeTransaction(database, (trx) =>
      trx
        .updateTable('provider_circuits')
        .set({ state: 'half_open', probe_until: now + probeMs, updated_at: now })
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'open'), eb('opened_at', '<=', now - cooldownMs)]),
            eb.and([eb('state', '=', 'half_open'), eb('probe_until', '<', now)]),
          ]),
        )
        .executeTakeFirst(),
    )
    cache.delete(keyOf(tenantId, provider))
    if (Number(taken.numUpdatedRows) > 0) return { call: true, probe: true }
    return { call: false, retryAt: now + cooldownMs }
  }

  /**
   * How a call went. A success closes the circuit (and wakes the runs parked for it); a transient
   * failure (outage, 5xx, 429, timeout) counts, and opens it at the threshold or when a probe fails.
   * A refused key or an unknown model says nothing about the provider's health and does not count.
   */
  async function record(
    tenantId: string,
    provider: string,
    error: unknown,
    runId: string | null,
  ): Promise<void> {
    // Only the provider's own answers count: an aborted run (cancel, shutdown) says nothing of it.
    const transient = error instanceof ProviderError && error.retryable
    if (error !== undefined && !transient) return
    const key = keyOf(tenantId, provider)
    const known = cache.get(key)
    // The hot path: a success on a closed circuit with no failures writes nothing.
    if (error === undefined && known && known.circuit.state === 'closed' && known.circuit.failures === 0)
      return
    const now = clock.now()
    await writeTransaction(database, async (trx) => {
      let query = trx
        .selectFrom('provider_circuits')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
      // Two processes recording at once count both failures (SQLite's write lock does it there).
      if (database.dialect === 'postgres') query = query.forUpdate()
      const row = await query.executeTakeFirst()
      const state = (row?.state ?? 'closed') as CircuitState
      const failures = row?.failures ?? 0
      let next: {
        state: CircuitState
        failures: number
        opened_at: number | null
        probe_until: number | null
      }
      if (error === undefined) next = { state: 'closed', failures: 0, opened_at: null, probe_until: null }
      else if (state === 'half_open' || (state === 'closed' && failures + 1 >= threshold))
        next = { state: 'open', failures: failures + 1, opened_at: now, probe_until: null }
      else
        next = {
          state,
          failures: failures + 1,
          opened_at: row?.opened_at === undefined ? null : row.opened_at,
          probe_until: row?.probe_until ?? null,
        }
      if (row === undefined && next.state === 'closed' && next.failures === 0) return
      await trx
        .insertInto('provider_circuits')
        .values({ tenant_id: tenantId, provider, ...next, updated_at: now })
        .onConflict((oc) => oc.columns(['tenant_id', 'provider']).doUpdateSet({ ...next, updated_at: now }))
        .execute()
      const opened = next.state === 'open' && state === 'closed'
      const closed = next.state === 'closed' && state !== 'closed'
      if ((opened || closed) && runId)
        await deps.runs.appendEventsIn(trx, [
          {
            tenantId,
            runId,
            type: opened ? 'provider.circuit_opened' : 'provider.circuit_closed',
            payload: {
              runId,
              tenantId,
              kind: 'provider',
              subjectId: null,
              provider,
              failures: next.failures,
              ...(opened ? { reopensAt: new Date(now + cooldownMs).toISOString() } : {}),
            },
            createdAt: now,
          },
        ])
      // The runs that waited for this provider go on.
      if (closed) await deps.runs.wakeWaitingIn(trx, tenantId, providerOpenKey(provider))
    })
    cache.delete(key)
  }

  /**
   * Circuits past their cool-down with runs parked for them: one of those runs is woken to be the
   * probe (with every run parked, nobody else would call the provider again).
   */
  async function sweep(): Promise<number> {
    const now = clock.now()
    const due = await database.db
      .selectFrom('provider_circuits')
      .select(['tenant_id', 'provider'])
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'open'), eb('opened_at', '<=', now - cooldownMs)]),
          eb.and([eb('state', '=', 'half_open'), eb('probe_until', '<', now)]),
        ]),
      )
      .execute()
    let woken = 0
    for (const circuit of due)
      woken += await writeTransaction(database, (trx) =>
        deps.runs.wakeWaitingIn(trx, circuit.tenant_id, providerOpenKey(circuit.provider), 1),
      )
    return woken
  }

  async function state(tenantId: string, provider: string): Promise<Circuit> {
    return (await read(tenantId, provider, true)).circuit
  }

  /** How many workspaces' circuits are in each state, per provider (the metrics' gauge). */
  async function countsByState(): Promise<Array<{ provider: string; state: CircuitState; count: number }>> {
    const rows = await database.db
      .selectFrom('provider_circuits')
      .select(['provider', 'state', (eb) => eb.fn.countAll<number | string>().as('n')])
      .groupBy(['provider', 'state'])
      .execute()
    return rows.map((row) => ({
      provider: row.provider,
      state: row.state as CircuitState,
      count: Number(row.n),
    }))
  }

  return { admit, record, sweep, state, countsByState, cooldownMs }
}

export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>
