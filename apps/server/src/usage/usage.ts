// The usage domain's public surface: record what a model call cost, and what was spent since when.
export { botSpendSince, recordUsage, tenantSpendSince } from './usage.store.ts'
