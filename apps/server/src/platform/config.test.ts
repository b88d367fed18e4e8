import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.ts'

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({})
    expect(config.http.port).toBe(8080)
    expect(config.worker.concurrency).toBe(3)
    expect(config.database.url).toBeUndefined()
    expect(config.database.sqlitePath.endsWith('data/openorch.db')).toBe(true)
    expect(config.backpressure).toEqual({ warnPending: 10, dropPending: 20 })
    expect(config.roles).toEqual(['api', 'scheduler', 'worker'])
  })

  it('names every bad variable at once', () => {
    try {
      loadConfig({
        PORT: 'eighty',
        OPENORCH_CONCURRENCY: '0',
        DATABASE_URL: 'mysql://x',
        OPENORCH_API_KEY: 'short',
      })
      expect.unreachable('loadConfig accepted bad values')
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      const message = (error as ConfigError).message
      for (const name of ['PORT', 'OPENORCH_CONCURRENCY', 'DATABASE_URL', 'OPENORCH_API_KEY'])
        expect(message).toContain(name)
      expect((error as ConfigError).problems).toHaveLength(4)
    }
  })

  it('reads retention, rate limits and the worker batch settings', () => {
    const config = loadConfig({
      OPENORCH_RUN_RETENTION_DAYS: '30',
      OPENORCH_RATE_LIMIT_PER_KEY: '60',
      OPENORCH_CLAIM_BATCH_SIZE: '500',
      OPENORCH_LOCAL_QUEUE_SIZE: '500',
    })
    expect(config.retention.runsMs).toBe(30 * 86_400_000)
    expect(config.http.rateLimits).toEqual({ perKeyPerMinute: 60, perTenantPerMinute: 3000 })
    expect(config.worker).toMatchObject({ claimBatchSize: 500, localQueueSize: 500, settleBatchSize: 100 })
    expect(loadConfig({}).worker.claimBatchSize).toBeUndefined()
    expect(() => loadConfig({ OPENORCH_LOCAL_QUEUE_SIZE: '-1', OPENORCH_RUN_RETENTION_DAYS: '0' })).toThrow(
      /OPENORCH_LOCAL_QUEUE_SIZE[\s\S]*OPENORCH_RUN_RETENTION_DAYS|OPENORCH_RUN_RETENTION_DAYS[\s\S]*OPENORCH_LOCAL_QUEUE_SIZE/,
    )
  })

  it('rejects a drop threshold below the warning threshold', () => {
    expect(() =>
      loadConfig({ OPENORCH_QUEUE_WARN_PENDING: '50', OPENORCH_QUEUE_DROP_PENDING: '20' }),
    ).toThrow(/OPENORCH_QUEUE_DROP_PENDING/)
  })

  it('reads OPENORCH_TRUST_PROXY as false, true, a hop count or a list of addresses and CIDRs', () => {
    expect(loadConfig({}).http.trustProxy).toBe(false)
    expect(loadConfig({ OPENORCH_TRUST_PROXY: 'true' }).http.trustProxy).toBe(true)
    expect(loadConfig({ OPENORCH_TRUST_PROXY: '2' }).http.trustProxy).toBe(2)
    expect(loadConfig({ OPENORCH_TRUST_PROXY: '10.0.0.0/8, ::1,loopback' }).http.trustProxy).toEqual([
      '10.0.0.0/8',
      '::1',
      'loopback',
    ])
    expect(() => loadConfig({ OPENORCH_TRUST_PROXY: '10.0.0.0/33,proxy.example' })).toThrow(
      /OPENORCH_TRUST_PROXY.*not 10\.0\.0\.0\/33, proxy\.example/,
    )
  })

  it('reads OPENORCH_EGRESS_ALLOW: a local Ollama by default, none, or hosts, host:port and CIDRs', () => {
    expect(loadConfig({}).egressAllow).toEqual([
      { kind: 'host', host: '127.0.0.1', port: 11434 },
      { kind: 'host', host: '::1', port: 11434 },
      { kind: 'host', host: 'localhost', port: 11434 },
    ])
    expect(loadConfig({ OPENORCH_EGRESS_ALLOW: 'none' }).egressAllow).toEqual([])
    expect(
      loadConfig({ OPENORCH_EGRESS_ALLOW: '127.0.0.1:11434,10.0.0.0/8,intranet.example' }).egressAllow,
    ).toEqual([
      { kind: 'host', host: '127.0.0.1', port: 11434 },
      { kind: 'cidr', cidr: '10.0.0.0/8' },
      { kind: 'host', host: 'intranet.example', port: undefined },
    ])
    // The tools' URLs come from the model: the Ollama opened for providers by default is not theirs.
    expect(loadConfig({}).toolEgressAllow).toEqual([])
    expect(loadConfig({ OPENORCH_EGRESS_ALLOW: 'none' }).toolEgressAllow).toEqual([])
    expect(loadConfig({ OPENORCH_EGRESS_ALLOW: '10.0.0.0/8' }).toolEgressAllow).toEqual([
      { kind: 'cidr', cidr: '10.0.0.0/8' },
    ])
    expect(() => loadConfig({ OPENORCH_EGRESS_ALLOW: '10.0.0.0/8,10.0.0.0/40' })).toThrow(
      /OPENORCH_EGRESS_ALLOW.*"10\.0\.0\.0\/40" is not a CIDR/,
    )
  })

  it('reads the quotas, 0 as no workspace budget, and refuses a minimum schedule of 0', () => {
    expect(loadConfig({}).quotas).toEqual({
      bots: 500,
      notesPerBot: 100,
      noteBytesPerBot: 4 * 1024 * 1024,
      inputBytes: 65536,
      minScheduleSeconds: 60,
      dailyBudgetUsd: 5,
    })
    const set = loadConfig({ OPENORCH_MIN_SCHEDULE_SECONDS: '300', OPENORCH_DEFAULT_DAILY_BUDGET_USD: '0' })
    expect(set.quotas).toMatchObject({ minScheduleSeconds: 300, dailyBudgetUsd: null })
    expect(() => loadConfig({ OPENORCH_MIN_SCHEDULE_SECONDS: '0' })).toThrow(/OPENORCH_MIN_SCHEDULE_SECONDS/)
  })

  it('reads the browser settings: Chromium found by default, 2 pages; a bad path or count is named', () => {
    expect(loadConfig({}).browser).toEqual({ executablePath: undefined, concurrency: 2 })
    expect(
      loadConfig({ OPENORCH_CHROMIUM_PATH: '/opt/chrome/chrome', OPENORCH_BROWSER_CONCURRENCY: '4' }).browser,
    ).toEqual({ executablePath: '/opt/chrome/chrome', concurrency: 4 })
    try {
      loadConfig({ OPENORCH_CHROMIUM_PATH: 'chromium', OPENORCH_BROWSER_CONCURRENCY: 'two' })
      expect.unreachable('loadConfig accepted bad browser settings')
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        expect.stringMatching(/^OPENORCH_CHROMIUM_PATH="chromium": must be an absolute path/),
        expect.stringMatching(/^OPENORCH_BROWSER_CONCURRENCY="two": /),
      ])
    }
    expect(() => loadConfig({ OPENORCH_BROWSER_CONCURRENCY: '0' })).toThrow(/OPENORCH_BROWSER_CONCURRENCY/)
  })

  it('reads the code sandboxes per process: 2 by default, 1 to 64', () => {
    expect(loadConfig({}).codeWorkers).toBe(2)
    expect(loadConfig({ OPENORCH_CODE_WORKERS: '4' }).codeWorkers).toBe(4)
    for (const bad of ['0', '65', 'many', '1.5'])
      expect(() => loadConfig({ OPENORCH_CODE_WORKERS: bad }), bad).toThrow(/OPENORCH_CODE_WORKERS/)
  })

  it('reads OPENORCH_PUBLIC_URL without its trailing slash, and refuses what is not an http(s) address', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined()
    expect(loadConfig({ OPENORCH_PUBLIC_URL: 'https://orch.example.com/' }).publicUrl).toBe(
      'https://orch.example.com',
    )
    expect(loadConfig({ OPENORCH_PUBLIC_URL: 'https://example.com/orch' }).publicUrl).toBe(
      'https://example.com/orch',
    )
    for (const bad of ['orch.example.com', 'ftp://orch.example.com', 'https://orch.example.com/?a=1'])
      expect(() => loadConfig({ OPENORCH_PUBLIC_URL: bad }), bad).toThrow(/OPENORCH_PUBLIC_URL/)
  })

  it('treats empty strings as unset and parses roles', () => {
    const config = loadConfig({ PORT: '', OPENORCH_ROLES: 'api, worker', DATABASE_URL: 'postgres://u@h/db' })
    expect(config.http.port).toBe(8080)
    expect(config.roles).toEqual(['api', 'worker'])
    expect(config.database.url).toBe('postgres://u@h/db')
  })
})
