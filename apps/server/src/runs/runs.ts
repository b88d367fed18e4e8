// The run kernel's public surface for domains, besides RunService (kernel.runs) and the relay
// (kernel.relay): functions that work inside a caller's transaction or read the outbox.
export {
  type AppendedEvent,
  appendEventsIn,
  findDeadLetter,
  listDeadLetters,
  requestDeadLetterRetry,
} from './outbox.store.ts'
export type { RunService } from './run.service.ts'
export { activeRunsOfSubjects, listEventsAfter, runIn } from './run.store.ts'
export type { EventDeadLettersTable } from './run.table.ts'
export { type EnqueueRequest, type EnqueueResult, orchestrationPriority, type Run } from './run.types.ts'
export { appendRunLog, appendRunLogs, type RunLogEntry, type RunLogLevel } from './run-log.store.ts'
export { eventPayloadJsonOf, type RunJsonOf, type RunKindView, runJsonOf } from './run-view.ts'
