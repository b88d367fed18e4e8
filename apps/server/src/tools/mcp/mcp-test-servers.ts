import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js'

// Real MCP servers for the tests, built with the SDK's server side: a Streamable HTTP server on a
// local port (this file) and a stdio program (mcp-stdio-server.fixture.mjs). Their tools: `echo`,
// `add`, `hang` (never answers), `crash` (the HTTP connection is cut / the program exits), `huge`
// (answers megabytes), and whatever a test adds with `setExtraTools` (announced with list_changed).

export const baseTools: Tool[] = [
  {
    name: 'echo',
    description: 'Says the text back.',
    inputSchema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { text: { type: 'string', description: 'What to say.' } },
      required: ['text'],
      additionalProperties: false,
    },
  },
  {
    name: 'add',
    description: 'Adds two numbers.',
    inputSchema: {
      type: 'object',
      properties: { a: { $ref: '#/$defs/n' }, b: { $ref: '#/$defs/n' } },
      required: ['a', 'b'],
      $defs: { n: { type: 'number' } },
    },
  },
  { name: 'hang', description: 'Never answers.', inputSchema: { type: 'object', properties: {} } },
  { name: 'crash', description: 'Breaks the connection.', inputSchema: { type: 'object', properties: {} } },
  { name: 'huge', description: 'Answers megabytes.', inputSchema: { type: 'object', properties: {} } },
  {
    name: 'recursive',
    description: 'A schema that refers to itself (cannot be offered).',
    inputSchema: { type: 'object', properties: { node: { $ref: '#' } } },
  },
]

export interface HttpMcpServer {
  url: string
  /** Every HTTP request the server received (method, headers). */
  requests: Array<{ method: string; headers: http.IncomingHttpHeaders }>
  /** Names of the tools called, in order. */
  calls: string[]
  setExtraTools(tools: Tool[]): void
  close(): Promise<void>
}

export async function startHttpMcpServer(): Promise<HttpMcpServer> {
  const requests: HttpMcpServer['requests'] = []
  const calls: string[] = []
  let extra: Tool[] = []
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>()

  const buildServer = () => {
    const server = new Server(
      { name: 'test-http', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true } } },
    )
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...baseTools, ...extra] }))
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const { name, arguments: args = {} } = request.params
      calls.push(name)
      if (name === 'echo') return { content: [{ type: 'text', text: `echo: ${String(args.text)}` }] }
      if (name === 'add')
        return {
          content: [{ type: 'text', text: String(Number(args.a) + Number(args.b)) }],
          structuredContent: { sum: Number(args.a) + Number(args.b) },
        }
      if (name === 'hang') return new Promise(() => {})
      if (name === 'huge') return { content: [{ type: 'text', text: 'x'.repeat(6 * 1024 * 1024) }] }
      if (extra.some((tool) => tool.name === name))
        return { content: [{ type: 'text', text: `${name} done` }] }
      return { content: [{ type: 'text', text: `no tool ${name}` }], isError: true }
    })
    return server
  }

  const httpServer = http.createServer(async (req, res) => {
    requests.push({ method: req.method ?? '', headers: req.headers })
    let body: unknown
    if (req.method === 'POST') {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      const message = body as { method?: string; params?: { name?: string } }
      if (message.method === 'tools/call' && message.params?.name === 'crash') {
        calls.push('crash')
        req.socket.destroy()
        return
      }
    }
    const sessionId = req.headers['mcp-session-id']
    let entry = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined
    if (!entry) {
      if (req.method !== 'POST') {
        res.writeHead(400).end()
        return
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, created)
        },
      })
      const server = buildServer()
      const created = { transport, server }
      await server.connect(transport)
      entry = created
    }
    await entry.transport.handleRequest(req, res, body)
  })
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`
  return {
    url,
    requests,
    calls,
    setExtraTools(tools) {
      extra = tools
      for (const { server } of sessions.values()) void server.sendToolListChanged().catch(() => {})
    },
    close: async () => {
      for (const { server } of sessions.values()) await server.close().catch(() => {})
      httpServer.closeAllConnections()
      await new Promise<void>((resolve) => httpServer.close(() => resolve()))
    },
  }
}

/** The stdio program's path (run with `node`). */
export const stdioServerScript = new URL('./mcp-stdio-server.fixture.mjs', import.meta.url).pathname
