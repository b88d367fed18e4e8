import type { MigrationFactory } from '../platform/db/migrator.ts'
import { foundation } from './0001-foundation.ts'
import { bots } from './0002-bots.ts'
import { queuePerformance } from './0003-queue-performance.ts'
import { audit } from './0004-audit.ts'
import { users } from './0005-users.ts'
import { auditAnchor } from './0006-audit-anchor.ts'
import { runSearch } from './0007-run-search.ts'
import { runQueue } from './0008-run-queue.ts'
import { apiKeyOwners } from './0009-api-key-owners.ts'
import { settleAndClaim } from './0010-settle-and-claim.ts'
import { loginFailures } from './0011-login-failures.ts'
import { apiKeyCreator } from './0013-api-key-creator.ts'
import { workspaces } from './0014-workspaces.ts'
import { runSearchByWorkspace } from './0015-run-search-by-workspace.ts'
import { workspaceQuotas } from './0016-workspace-quotas.ts'
import { runKindsAndParking } from './0017-run-kinds-and-parking.ts'
import { eventConsumers } from './0018-event-consumers.ts'
import { runSubjectAndResult } from './0019-run-subject-and-result.ts'
import { schedules } from './0020-schedules.ts'
import { botTools } from './0021-bot-tools.ts'
import { botFiles } from './0022-bot-files.ts'
import { botOutputSchema } from './0023-bot-output-schema.ts'
import { toolSettings } from './0024-tool-settings.ts'
import { approvals } from './0025-approvals.ts'
import { mcpServers } from './0026-mcp-servers.ts'
import { botFileBinary } from './0027-bot-file-binary.ts'
import { channels } from './0028-channels.ts'
import { botHooks } from './0029-bot-hooks.ts'
import { telegramInbound } from './0030-telegram-inbound.ts'
import { push } from './0031-push.ts'
import { quietHours } from './0032-quiet-hours.ts'
import { pipelines } from './0033-pipelines.ts'
import { providerCircuits } from './0034-provider-circuits.ts'
import { botOnComplete } from './0035-bot-on-complete.ts'
import { runTrace } from './0036-run-trace.ts'
import { operatingMode } from './0037-operating-mode.ts'
import { rowLevelSecurity } from './0038-row-level-security.ts'

// Numbered, applied in order on both engines. A shipped migration is never edited: add the next number.
export const migrations: Record<string, MigrationFactory> = {
  '0001-foundation': foundation,
  '0002-bots': bots,
  '0003-queue-performance': queuePerformance,
  '0004-audit': audit,
  '0005-users': users,
  '0006-audit-anchor': auditAnchor,
  '0007-run-search': runSearch,
  '0008-run-queue': runQueue,
  '0009-api-key-owners': apiKeyOwners,
  '0010-settle-and-claim': settleAndClaim,
  '0011-login-failures': loginFailures,
  '0013-api-key-creator': apiKeyCreator,
  '0014-workspaces': workspaces,
  '0015-run-search-by-workspace': runSearchByWorkspace,
  '0016-workspace-quotas': workspaceQuotas,
  '0017-run-kinds-and-parking': runKindsAndParking,
  '0018-event-consumers': eventConsumers,
  '0019-run-subject-and-result': runSubjectAndResult,
  '0020-schedules': schedules,
  '0021-bot-tools': botTools,
  '0022-bot-files': botFiles,
  '0023-bot-output-schema': botOutputSchema,
  '0024-tool-settings': toolSettings,
  '0025-approvals': approvals,
  '0026-mcp-servers': mcpServers,
  '0027-bot-file-binary': botFileBinary,
  '0028-channels': channels,
  '0029-bot-hooks': botHooks,
  '0030-telegram-inbound': telegramInbound,
  '0031-push': push,
  '0032-quiet-hours': quietHours,
  '0033-pipelines': pipelines,
  '0034-provider-circuits': providerCircuits,
  '0035-bot-on-complete': botOnComplete,
  '0036-run-trace': runTrace,
  '0037-operating-mode': operatingMode,
  '0038-row-level-security': rowLevelSecurity,
}
