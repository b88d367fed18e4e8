// The audit domain's public surface: what other domains may use to record and prune the trail.
export { type AuditEntry, appendAudit, appendAuditIn, pruneAudit, systemEntry } from './audit.store.ts'
