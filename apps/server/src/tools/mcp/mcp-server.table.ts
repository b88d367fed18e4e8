// A workspace's MCP server (migration 0026): the tool set `mcp:<name>`.
export interface McpServersTable {
  tenant_id: string
  id: string
  name: string
  transport: 'http' | 'stdio'
  url: string | null
  /** JSON array of the header names (values only in `headers_encrypted`). */
  header_names: string
  /** AES-256-GCM ciphertext (platform/crypto) of a JSON object name → value; never returned or logged. */
  headers_encrypted: string | null
  command: string | null
  /** JSON array of strings. */
  args: string
  env_names: string
  env_encrypted: string | null
  /** 0 or 1. */
  enabled: number
  /** JSON: an array of tool names, or "*". */
  require_approval: string
  status: 'disabled' | 'connected' | 'error' | 'unknown'
  last_error: string | null
  /** JSON array of { name, description, inputSchema } as the server listed them last. */
  tools: string
  tools_checked_at: number | null
  created_at: number
  updated_at: number
}
