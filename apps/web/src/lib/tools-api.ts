import type {
  McpServer,
  McpServerCreate,
  McpServerUpdate,
  SearchSettings,
  SearchSettingsPut,
} from '@openorch/contracts'
import { apiErrorOf } from '@openorch/sdk'
import { authorizedFetch, requestJson, type SignedInClient } from './api.tsx'

// The routes of issue 13 the SDK client has no methods for yet: MCP servers, the web search set-up
// and a bot's files. Same credentials and the same ApiError as the client.

const mcpPath = (id: string) => `/mcp-servers/${encodeURIComponent(id)}`

export function mcpServersApi(signedIn: SignedInClient) {
  return {
    list: () => requestJson<{ items: McpServer[] }>(signedIn, 'GET', '/mcp-servers'),
    create: (body: McpServerCreate) => requestJson<McpServer>(signedIn, 'POST', '/mcp-servers', body),
    get: (id: string) => requestJson<McpServer>(signedIn, 'GET', mcpPath(id)),
    update: (id: string, patch: McpServerUpdate) =>
      requestJson<McpServer>(signedIn, 'PATCH', mcpPath(id), patch),
    remove: (id: string) => requestJson<void>(signedIn, 'DELETE', mcpPath(id)),
  }
}

export function searchSettingsApi(signedIn: SignedInClient) {
  return {
    /** null when web search is not set up (the server's 404 `search_not_configured`). */
    get: async (): Promise<SearchSettings | null> => {
      try {
        return await requestJson<SearchSettings>(signedIn, 'GET', '/tools/search')
      } catch (error) {
        if ((error as { code?: string }).code === 'search_not_configured') return null
        throw error
      }
    },
    /** Checked with a real search before it is saved; a refusal throws `search_unauthorized`, … */
    put: (body: SearchSettingsPut) => requestJson<SearchSettings>(signedIn, 'PUT', '/tools/search', body),
    remove: () => requestJson<void>(signedIn, 'DELETE', '/tools/search'),
  }
}

/**
 * A bot's file (a screenshot) as a data: URL. An <img src> cannot send the Authorization header,
 * and the dashboard's CSP allows `data:` images but not `blob:` ones.
 */
export async function botFileDataUrl(signedIn: SignedInClient, botId: string, name: string): Promise<string> {
  const path = `/bots/${encodeURIComponent(botId)}/files/${encodeURIComponent(name)}`
  const response = await authorizedFetch(signedIn, path)
  if (!response.ok) throw await apiErrorOf(response, `GET ${path}: HTTP ${response.status}`)
  const blob = await response.blob()
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(String(reader.result))
    reader.onerror = () => reject(reader.error)
    reader.readAsDataURL(blob)
  })
}

/** Whether a bot file is a picture the run page shows (by its name, as the tools store them). */
export function isImageFile(name: string): boolean {
  return /\.(png|jpe?g|webp)$/i.test(name)
}
