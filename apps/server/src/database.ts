import type { ApiKeysTable } from './auth/api-key.table.ts'
import type { Database } from './platform/db/database.ts'
import type { EventCursorsTable, RunEventsTable, RunsTable } from './runs/run.table.ts'
import type { TenantsTable } from './tenants/tenant.table.ts'

/** Every table of the server, as Kysely sees it. */
export interface Tables {
  tenants: TenantsTable
  api_keys: ApiKeysTable
  runs: RunsTable
  run_events: RunEventsTable
  event_cursors: EventCursorsTable
}

export type Db = Database<Tables>
