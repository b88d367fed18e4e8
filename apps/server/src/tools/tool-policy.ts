import type { ToolPolicy } from '@openorch/contracts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { AppError } from '../platform/errors.ts'
import type { ToolRegistry } from './tool-registry.ts'

// A workspace's approval policy (issue 13): built-in functions whose every call waits for a person,
// beside those that always do (files_delete, MCP tools a server lists), and how long an approval may
// wait before it counts as rejected.

export type ToolPolicies = ReturnType<typeof createToolPolicies>

const none: ToolPolicy = { requireApproval: [], expiresAfterSeconds: null }

export function createToolPolicies(deps: { database: Db; clock: Clock; registry: ToolRegistry }) {
  const db = deps.database.db

  async function get(tenantId: string): Promise<ToolPolicy> {
    const row = await db
      .selectFrom('tool_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst()
    if (!row) return none
    return {
      requireApproval: JSON.parse(row.require_approval) as string[],
      expiresAfterSeconds: row.expires_after_seconds === null ? null : Number(row.expires_after_seconds),
    }
  }

  async function put(tenantId: string, policy: ToolPolicy): Promise<ToolPolicy> {
    const builtIn = new Set(deps.registry.builtInFunctions().map((fn) => fn.name))
    const unknown = policy.requireApproval.filter((name) => !builtIn.has(name))
    if (unknown.length > 0)
      throw new AppError(
        'validation_failed',
        `Not a built-in tool function: ${unknown.join(', ')}. GET /api/v1/tools lists them; MCP tools are marked on their server (requireApproval).`,
        400,
        {
          errors: unknown.map((name) => ({
            field: 'requireApproval',
            message: `"${name}" is not a built-in tool function`,
          })),
        },
      )
    const requireApproval = [...new Set(policy.requireApproval)].sort()
    const values = {
      require_approval: JSON.stringify(requireApproval),
      expires_after_seconds: policy.expiresAfterSeconds,
      updated_at: deps.clock.now(),
    }
    await db
      .insertInto('tool_policies')
      .values({ tenant_id: tenantId, ...values })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
      .execute()
    return { requireApproval, expiresAfterSeconds: policy.expiresAfterSeconds }
  }

  return { get, put }
}
