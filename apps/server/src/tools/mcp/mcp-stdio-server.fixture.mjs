// A stdio MCP server for the tests (mcp.tool-set.test.ts), built with the SDK's server side. It notes
// each start in STARTS_FILE (so a test can tell that nothing was started), prints SECRET_TOKEN to its
// stderr (which must reach the log scrubbed), and offers: echo, env (the names of its environment
// variables), pid, grandchild (starts a long sleep in its process group), crash (exits), hang,
// change (adds a tool and announces it with list_changed).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'

if (process.env.STARTS_FILE) fs.appendFileSync(process.env.STARTS_FILE, `${process.pid}\n`)
if (process.env.SECRET_TOKEN) process.stderr.write(`starting with token ${process.env.SECRET_TOKEN}\n`)

const empty = { type: 'object', properties: {} }
const tools = [
  {
    name: 'echo',
    description: 'Says the text back.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
  { name: 'env', description: 'Names of the environment variables.', inputSchema: empty },
  { name: 'pid', description: 'The process id.', inputSchema: empty },
  { name: 'grandchild', description: 'Starts a long sleep; answers its pid.', inputSchema: empty },
  { name: 'crash', description: 'Exits.', inputSchema: empty },
  { name: 'hang', description: 'Never answers.', inputSchema: empty },
  { name: 'change', description: 'Adds the tool `added`.', inputSchema: empty },
]

const server = new Server(
  { name: 'test-stdio', version: '1.0.0' },
  { capabilities: { tools: { listChanged: true } } },
)
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const { name, arguments: args = {} } = request.params
  const text = (value) => ({ content: [{ type: 'text', text: String(value) }] })
  switch (name) {
    case 'echo':
      return text(`echo: ${args.text}`)
    case 'env':
      return text(Object.keys(process.env).sort().join(','))
    case 'pid':
      return text(process.pid)
    case 'grandchild': {
      const child = spawn('sleep', ['300'], { stdio: 'ignore' })
      return text(child.pid)
    }
    case 'crash':
      process.exit(3)
      break
    case 'hang':
      return new Promise(() => {})
    case 'change':
      if (!tools.some((tool) => tool.name === 'added'))
        tools.push({ name: 'added', description: 'Added later.', inputSchema: empty })
      await server.sendToolListChanged()
      return text('changed')
    case 'added':
      return text('added done')
  }
  return { content: [{ type: 'text', text: `no tool ${name}` }], isError: true }
})

await server.connect(new StdioServerTransport())
