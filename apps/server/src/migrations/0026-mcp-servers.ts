import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// MCP servers of a workspace (issue 13): each is the tool set `mcp:<name>`. Header and environment
// values are one vault-encrypted JSON object each (never returned, rotated by `openorch secrets
// rotate`); their names are kept beside them in the clear, for people. `tools` caches what the server
// listed last (JSON), `status`/`last_error` what the last connection found.
export function mcpServers(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE mcp_servers (
        tenant_id text NOT NULL,
        id text NOT NULL,
        name text NOT NULL,
        transport text NOT NULL,
        url text,
        header_names text NOT NULL,
        headers_encrypted text,
        command text,
        args text NOT NULL,
        env_names text NOT NULL,
        env_encrypted text,
        enabled integer NOT NULL,
        require_approval text NOT NULL,
        status text NOT NULL,
        last_error text,
        tools text NOT NULL,
        tools_checked_at bigint,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (tenant_id, id)
      )`.execute(db)
      await sql`CREATE UNIQUE INDEX mcp_servers_name_idx ON mcp_servers (tenant_id, name)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE mcp_servers`.execute(db)
    },
  }
}
