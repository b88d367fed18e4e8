import { minPasswordLength, passwordRefusalCodes } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import type { MessageKey, Translate } from './i18n.tsx'

// Every API error in words a person understands: known codes have their own sentence (and what to
// do); other problems show the server's `detail`, which is written for people too.

const known: Record<string, MessageKey> = {
  unauthorized: 'error.unauthorized',
  forbidden: 'error.forbidden',
  provider_auth: 'error.provider_auth',
  provider_quota: 'error.provider_quota',
  provider_rate_limited: 'error.provider_rate_limited',
  provider_unreachable: 'error.provider_unreachable',
  provider_unavailable: 'error.provider_unavailable',
  provider_timeout: 'error.provider_timeout',
  provider_bad_request: 'error.provider_bad_request',
  provider_bad_answer: 'error.provider_bad_answer',
  egress_refused: 'error.egress_refused',
  provider_not_configured: 'error.provider_not_configured',
  provider_key_unreadable: 'error.provider_key_unreadable',
  bot_not_found: 'error.bot_not_found',
  run_not_found: 'error.run_not_found',
  bot_name_taken: 'error.bot_name_taken',
  invalid_schedule: 'error.invalid_schedule',
  run_not_cancellable: 'error.run_not_cancellable',
  run_not_retriable: 'error.run_not_retriable',
  budget_exceeded: 'error.budget_exceeded',
  quota_exceeded: 'error.quota_exceeded',
  queue_full: 'error.queue_full',
  timeout: 'error.timeout',
  cancelled: 'error.cancelled',
  lease_expired: 'error.lease_expired',
  internal_error: 'error.internal_error',
  shutting_down: 'error.shutting_down',
  database_unavailable: 'error.database_unavailable',
  database_busy: 'error.database_busy',
  database_full: 'error.database_full',
  last_owner: 'error.last_owner',
  user_exists: 'error.user_exists',
  user_not_found: 'error.user_not_found',
  api_key_not_found: 'error.api_key_not_found',
  not_a_user: 'error.not_a_user',
  personal_key_limit: 'error.personal_key_limit',
  self_elevation: 'error.self_elevation',
  sign_in_busy: 'error.sign_in_busy',
  workspace_disabled: 'error.workspace_disabled',
  workspace_not_found: 'error.workspace_not_found',
  default_workspace_protected: 'error.default_workspace_protected',
  approval_decided: 'error.approval_decided',
  approval_not_found: 'error.approval_not_found',
  mcp_stdio_disabled: 'error.mcp_stdio_disabled',
  mcp_server_exists: 'error.mcp_server_exists',
  mcp_server_not_found: 'error.mcp_server_not_found',
  mcp_secrets_unreadable: 'error.mcp_secrets_unreadable',
  search_unauthorized: 'error.search_unauthorized',
  search_quota: 'error.search_quota',
  search_rate_limited: 'error.search_rate_limited',
  search_unavailable: 'error.search_unavailable',
  search_bad_request: 'error.search_bad_request',
  search_timeout: 'error.search_timeout',
  search_not_configured: 'error.search_not_configured',
  search_answer_invalid: 'error.search_answer_invalid',
  tool_iterations_exceeded: 'error.tool_iterations_exceeded',
  output_invalid: 'error.output_invalid',
  channel_exists: 'error.channel_exists',
  channel_not_found: 'error.channel_not_found',
  channel_link_not_found: 'error.channel_link_not_found',
  telegram_unauthorized: 'error.telegram_unauthorized',
  telegram_failed: 'error.telegram_failed',
  telegram_link_not_found: 'error.telegram_link_not_found',
  channel_not_telegram: 'error.channel_not_telegram',
  person_required: 'error.person_required',
  public_url_missing: 'error.public_url_missing',
  link_code_unavailable: 'error.link_code_unavailable',
  pipeline_not_found: 'error.pipeline_not_found',
  pipeline_name_taken: 'error.pipeline_name_taken',
  pipeline_invalid: 'error.pipeline_invalid',
  approval_rejected: 'error.approval_rejected',
  approval_expired: 'error.approval_expired',
}

export interface Described {
  message: string
  /** The server's own words, when they add something (shown smaller). */
  detail?: string
  fields: { field: string; message: string }[]
  code?: string
}

/** "in 14 minutes" / "in 40 seconds": how long a lock lasts, rounded up. */
function waitWords(ms: number, t: Translate): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000))
  if (seconds < 90) return t('error.wait.seconds', { n: seconds })
  return t('error.wait.minutes', { n: Math.ceil(seconds / 60) })
}

/**
 * `words` gives some codes other sentences where they happen (a `forbidden` while granting a role
 * is about the role, not the key).
 */
export function describeError(
  error: unknown,
  t: Translate,
  words: Partial<Record<string, MessageKey>> = {},
): Described {
  if (error instanceof ApiError) {
    // Sign-in: our own sentence says all of it (the server's repeats it).
    if (error.code === 'invalid_credentials')
      return { message: t('error.invalid_credentials'), fields: [], code: error.code }
    if (error.code === 'login_throttled')
      return {
        message: t('error.login_throttled', {
          wait: waitWords(error.retryAfterMs ?? 15 * 60_000, t),
        }),
        fields: [],
        code: error.code,
      }
    const key = words[error.code] ?? known[error.code]
    const fields = error.problem?.errors ?? []
    if (key) return { message: t(key), detail: error.message, fields, code: error.code }
    if (error.code === 'validation_failed')
      return { message: t('error.validation_failed'), fields, code: error.code }
    return { message: error.message || t('error.unknown'), fields, code: error.code }
  }
  // fetch rejects with a TypeError when the server cannot be reached at all.
  if (error instanceof TypeError) return { message: t('error.network'), fields: [] }
  return { message: error instanceof Error ? error.message : t('error.unknown'), fields: [] }
}

/**
 * Why the server refused one field of a `validation_failed`, in the person's language where the
 * refusal has a code we know (a new password's), else in the server's words; undefined if that field
 * was not refused.
 */
export function fieldRefusal(error: unknown, field: string, t: Translate): string | undefined {
  if (!(error instanceof ApiError) || error.code !== 'validation_failed') return undefined
  const refused = error.problem?.errors?.find((e) => e.field === field)
  if (!refused) return undefined
  const code = refused.code
  if (code && (passwordRefusalCodes as readonly string[]).includes(code))
    return t(`password.${code}` as MessageKey, { min: minPasswordLength })
  return refused.message
}

/** What a failed run's error code means and what to do about it. */
export function runErrorAdvice(code: string, t: Translate): string {
  const key = known[code]
  return key ? t(key) : t('error.run_generic')
}
