// One row per schedule, owned by a kind's domain (`bot` today, `pipeline` next): when it fires next and
// the policies the scheduler applies (migration 0020, decision 0028). The owner keeps what a person
// set (its own table); this row is the scheduler's copy plus its state.
export interface SchedulesTable {
  owner_kind: string
  owner_id: string
  tenant_id: string
  /** Cron (with seconds) or `@every`, as schedule-spec.ts parses it. */
  spec: string
  timezone: string
  jitter_seconds: number
  /** `ignore` or `catch_up_one`: what a slot missed while nothing ran becomes. */
  missed_policy: string
  /** `skip`, `buffer_one`, `cancel_other` or `allow_all`: a slot while the owner's last run is active. */
  overlap_policy: string
  /** The slot that fires next (jitter excluded: slot keys are built from it); null: paused or ended. */
  next_slot_at: number | null
  /** When it fires (epoch ms, jitter included); null: paused or ended. */
  next_fire_at: number | null
  updated_at: number
}

export type ScheduleRow = SchedulesTable
