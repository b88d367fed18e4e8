import type { ApprovalsTable } from './approvals/approval.table.ts'
import type { AuditAnchorTable, AuditLogTable } from './audit/audit.table.ts'
import type { ApiKeysTable } from './auth/api-key.table.ts'
import type { BotsTable } from './bots/bot.table.ts'
import type { BotFilesTable } from './bots/bot-file.table.ts'
import type { BotHooksTable } from './bots/bot-hook.table.ts'
import type {
  BotChannelsTable,
  ChannelsTable,
  HeldNotificationsTable,
  NotificationSettingsTable,
} from './channels/channel.table.ts'
import type {
  PipelineRunStepsTable,
  PipelineRunsTable,
  PipelinesTable,
  PipelineVersionsTable,
} from './pipelines/pipeline.table.ts'
import type { Database } from './platform/db/database.ts'
import type { ProviderCircuitsTable, ProvidersTable } from './providers/provider.table.ts'
import type {
  EventCursorsTable,
  EventDeadLettersTable,
  RunEventsTable,
  RunKeysTable,
  RunsTable,
  RunWorkersTable,
} from './runs/run.table.ts'
import type { RunLogsTable } from './runs/run-log.table.ts'
import type { SchedulesTable } from './schedules/schedule.table.ts'
import type { ClusterProcessesTable, SystemModeTable } from './system/system.table.ts'
import type { TenantsTable } from './tenants/tenant.table.ts'
import type { McpServersTable } from './tools/mcp/mcp-server.table.ts'
import type { ToolPoliciesTable } from './tools/tool-policy.table.ts'
import type { ToolSettingsTable } from './tools/tool-settings.table.ts'
import type { UsageRecordsTable } from './usage/usage.table.ts'
import type {
  LoginFailuresTable,
  RefreshTokensTable,
  SessionFamiliesTable,
  UsersTable,
} from './users/user.table.ts'

/** Every table of the server, as Kysely sees it. */
export interface Tables {
  system_mode: SystemModeTable
  cluster_processes: ClusterProcessesTable
  tenants: TenantsTable
  api_keys: ApiKeysTable
  runs: RunsTable
  run_events: RunEventsTable
  event_cursors: EventCursorsTable
  event_dead_letters: EventDeadLettersTable
  run_keys: RunKeysTable
  run_workers: RunWorkersTable
  providers: ProvidersTable
  provider_circuits: ProviderCircuitsTable
  bots: BotsTable
  bot_files: BotFilesTable
  bot_hooks: BotHooksTable
  channels: ChannelsTable
  bot_channels: BotChannelsTable
  notification_settings: NotificationSettingsTable
  held_notifications: HeldNotificationsTable
  tool_settings: ToolSettingsTable
  mcp_servers: McpServersTable
  tool_policies: ToolPoliciesTable
  approvals: ApprovalsTable
  pipelines: PipelinesTable
  pipeline_versions: PipelineVersionsTable
  pipeline_runs: PipelineRunsTable
  pipeline_run_steps: PipelineRunStepsTable
  schedules: SchedulesTable
  run_logs: RunLogsTable
  usage_records: UsageRecordsTable
  audit_log: AuditLogTable
  audit_anchor: AuditAnchorTable
  users: UsersTable
  refresh_tokens: RefreshTokensTable
  session_families: SessionFamiliesTable
  login_failures: LoginFailuresTable
}

export type Db = Database<Tables>
