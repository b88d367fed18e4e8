// Tables of the system domain (migration 0037, decision 0040).

/** The cluster's operating mode: one row (id 1), absent until someone changes the mode. */
export interface SystemModeTable {
  id: number
  mode: string
  min_priority: number | null
  reason: string | null
  changed_by_type: string
  changed_by_id: string | null
  changed_at: number
}

/** Every process sharing the database, with its roles; a row not seen for a while is a process gone. */
export interface ClusterProcessesTable {
  id: string
  hostname: string
  pid: number
  /** JSON array of roles (`api`, `scheduler`, `worker`). */
  roles: string
  version: string
  started_at: number
  seen_at: number
}
