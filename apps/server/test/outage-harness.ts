import type { Tables } from '../src/database.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { createTestApp, type TestApp } from './app-harness.ts'
import { postgresUrl } from './databases.ts'
import { proxiedPostgresUrl, type TcpProxy } from './tcp-proxy.ts'

// Apps whose database a test can take away (decision 0015): PostgreSQL behind a TCP proxy the test
// cuts and restores; SQLite with a short busy timeout, for another connection to hold the write lock.

type AppOptions = NonNullable<Parameters<typeof createTestApp>[1]>

export interface OutageApp {
  t: TestApp
  /** PostgreSQL only: the proxy between the app and the database. */
  proxy: TcpProxy | undefined
  close(): Promise<void>
}

export async function createAppBehindProxy(options: AppOptions = {}): Promise<OutageApp> {
  const { url, proxy } = await proxiedPostgresUrl(postgresUrl)
  const t = await createTestApp('postgres', {
    ...options,
    open: (testDatabase) =>
      openDatabase<Tables>({
        url,
        schema: testDatabase.location.schema!,
        poolSize: 8,
        connectTimeoutMs: 1000,
      }),
  })
  return {
    t,
    proxy,
    async close() {
      await proxy.restore().catch(() => {})
      await t.close()
      await proxy.close()
    },
  }
}

export async function createAppWithShortBusyTimeout(options: AppOptions = {}): Promise<OutageApp> {
  const t = await createTestApp('sqlite', {
    ...options,
    open: (testDatabase) =>
      openDatabase<Tables>({ sqlitePath: testDatabase.location.sqlitePath!, sqliteBusyTimeoutMs: 100 }),
  })
  return { t, proxy: undefined, close: () => t.close() }
}
