import type { Bus } from '../platform/bus.ts'
import { Scheduler, type SchedulerDeps } from './scheduler.ts'

// The schedules domain's public surface: the scheduler every owning kind registers with (bots today,
// pipelines next), and the functions an owner calls inside its own transaction to keep its schedule.
export {
  nextFireTimes,
  pauseScheduleIn,
  putScheduleIn,
  removeScheduleIn,
  type ScheduleSettings,
  slotKeyOf,
  updatePoliciesIn,
} from './schedule.store.ts'
export type { ScheduleRow } from './schedule.table.ts'
export type { ScheduleOwner, Scheduler, SlotOutcome, SlotResult } from './scheduler.ts'

export interface SchedulesDeps extends SchedulerDeps {
  bus: Bus
}

export type Schedules = ReturnType<typeof createSchedules>

const schedulesChanged = JSON.stringify({ type: 'schedules_changed' })

/** One scheduler per process; every process may run it (the slot keys keep each slot to one run). */
export function createSchedules(deps: SchedulesDeps) {
  const { bus, ...schedulerDeps } = deps
  const scheduler = new Scheduler({ ...schedulerDeps, log: deps.log.child({ component: 'scheduler' }) })
  let unsubscribe: (() => void) | undefined
  return {
    scheduler,
    /** An owner changed a schedule: this process looks again now, and tells the others. */
    changed(): void {
      scheduler.nudge()
      // Other processes' schedulers sleep until their earliest slot: tell them the table changed.
      bus.publish('control', schedulesChanged).catch(() => {})
    },
    /** Starts firing schedules (the scheduler role). */
    start(): void {
      unsubscribe = bus.subscribe('control', (message) => {
        if (message === schedulesChanged) scheduler.nudge()
      })
      scheduler.start()
    },
    async stop(): Promise<void> {
      unsubscribe?.()
      await scheduler.stop()
    },
  }
}
