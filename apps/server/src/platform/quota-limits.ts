// What each workspace may hold and ask for, and the installation's defaults (decision 0019). The
// configuration reads these; the quotas domain (quotas/quotas.ts) applies them.

export interface Quotas {
  /** Bots per workspace. */
  bots: number
  /** Notes per bot. */
  notesPerBot: number
  /** Bytes of all notes of one bot together. */
  noteBytesPerBot: number
  /** Bytes of one run's input (as JSON). */
  inputBytes: number
  /** The shortest time between two fires of a schedule. */
  minScheduleSeconds: number
  /** What one workspace's runs may cost per UTC day together (USD); null: no limit. */
  dailyBudgetUsd: number | null
}

export const defaultQuotas: Quotas = {
  bots: 500,
  notesPerBot: 100,
  noteBytesPerBot: 4 * 1024 * 1024,
  inputBytes: 64 * 1024,
  minScheduleSeconds: 60,
  dailyBudgetUsd: 5,
}
