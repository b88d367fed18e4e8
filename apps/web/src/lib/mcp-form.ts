import type { McpServer, McpServerCreate } from '@openorch/contracts'

// The MCP server form's values and what the API takes from them: header and environment rows
// become records (empty rows dropped, a name given twice refused), arguments are one per line.

export interface SecretRow {
  name: string
  value: string
}

export interface McpFormValues {
  name: string
  transport: 'http' | 'stdio'
  url: string
  headers: SecretRow[]
  command: string
  /** One argument per line. */
  args: string
  env: SecretRow[]
  enabled: boolean
  /** Every tool waits for approval (`*`). */
  approveAll: boolean
  /** Else these tools, comma- or line-separated, as the server names them. */
  approveNames: string
}

export const emptyMcpForm: McpFormValues = {
  name: '',
  transport: 'http',
  url: '',
  headers: [{ name: '', value: '' }],
  command: '',
  args: '',
  env: [{ name: '', value: '' }],
  enabled: true,
  approveAll: false,
  approveNames: '',
}

/** The rows as a record; `duplicate` names the first name given twice (case-insensitively). */
export function recordOfRows(rows: readonly SecretRow[]): {
  record: Record<string, string>
  duplicate?: string
} {
  const record: Record<string, string> = {}
  const seen = new Set<string>()
  for (const row of rows) {
    const name = row.name.trim()
    if (name === '' && row.value === '') continue
    if (seen.has(name.toLowerCase())) return { record, duplicate: name }
    seen.add(name.toLowerCase())
    record[name] = row.value
  }
  return { record }
}

/** Names separated by commas, spaces or lines, without repeats. */
export function namesOfText(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))]
}

/** What POST /mcp-servers gets from the form, or the name given twice in headers or env. */
export function createBodyOf(values: McpFormValues): { body: McpServerCreate } | { duplicate: string } {
  const requireApproval = values.approveAll ? ('*' as const) : namesOfText(values.approveNames)
  const common = { name: values.name.trim(), enabled: values.enabled, requireApproval }
  if (values.transport === 'http') {
    const headers = recordOfRows(values.headers)
    if (headers.duplicate !== undefined) return { duplicate: headers.duplicate }
    return {
      body: {
        ...common,
        transport: 'http',
        url: values.url.trim(),
        ...(Object.keys(headers.record).length > 0 ? { headers: headers.record } : {}),
      },
    }
  }
  const env = recordOfRows(values.env)
  if (env.duplicate !== undefined) return { duplicate: env.duplicate }
  const args = values.args
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  return {
    body: {
      ...common,
      transport: 'stdio',
      command: values.command.trim(),
      ...(args.length > 0 ? { args } : {}),
      ...(Object.keys(env.record).length > 0 ? { env: env.record } : {}),
    },
  }
}

/** Whether a tool of the server waits for approval. */
export function needsApproval(server: Pick<McpServer, 'requireApproval'>, tool: string): boolean {
  return server.requireApproval === '*' || server.requireApproval.includes(tool)
}
