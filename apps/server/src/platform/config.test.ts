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

  it('rejects a drop threshold below the warning threshold', () => {
    expect(() =>
      loadConfig({ OPENORCH_QUEUE_WARN_PENDING: '50', OPENORCH_QUEUE_DROP_PENDING: '20' }),
    ).toThrow(/OPENORCH_QUEUE_DROP_PENDING/)
  })

  it('treats empty strings as unset and parses roles', () => {
    const config = loadConfig({ PORT: '', OPENORCH_ROLES: 'api, worker', DATABASE_URL: 'postgres://u@h/db' })
    expect(config.http.port).toBe(8080)
    expect(config.roles).toEqual(['api', 'worker'])
    expect(config.database.url).toBe('postgres://u@h/db')
  })
})
