import type { RetentionKeeper } from '../runs/retention.ts'
import { botRunView } from './bot.run-view.ts'

/**
 * The runs retention must keep for the bots however old: each bot's newest run, and its newest
 * completed run (its memory: the context of the next run and "new results" detection compare with it).
 */
export const botRunsToKeep: RetentionKeeper[] = [
  (trx) =>
    trx
      .selectFrom('runs')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('kind', '=', botRunView.kind)
      .where('subject_id', 'is not', null)
      .groupBy(['tenant_id', 'subject_id']),
  (trx) =>
    trx
      .selectFrom('runs')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('kind', '=', botRunView.kind)
      .where('subject_id', 'is not', null)
      .where('status', '=', 'completed')
      .groupBy(['tenant_id', 'subject_id']),
]
