import { parseArgs } from 'node:util'
import { AppError } from '../platform/errors.ts'
import type { Workspace, WorkspaceService } from '../workspaces/workspace.service.ts'
import { CliFailure } from './bots.cli.ts'

// `openorch workspaces …`: the operator's commands, straight on the database (like `users create`),
// so they work before anyone has a key and while every installation admin is locked out.
// Results go to stdout, refusals to stderr with exit 1.

export const workspacesUsage = `Usage: openorch workspaces <command>

Commands:
  list [--json]                                   List workspaces: id, name, users, state
  create --name N --owner-email E < password-file Create a workspace and its first owner; the owner's
                                                  initial password is read from standard input
  disable <id>                                    Refuse the workspace's keys and sessions, stop its schedules
  enable <id>                                     Enable a disabled workspace again

The default workspace cannot be disabled: its owners are the installation's admins.`

export interface WorkspacesCliIo {
  out: (text: string) => void
  readStdin: () => Promise<string>
  /** The operating-system account, for the audit trail. */
  operator: string
}

export async function runWorkspacesCommand(
  argv: string[],
  io: WorkspacesCliIo,
  workspaces: WorkspaceService,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'owner-email': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const [sub, target] = positionals
  const actor = { type: 'cli' as const, id: io.operator }
  try {
    switch (sub) {
      case undefined:
      case 'help':
        io.out(`${workspacesUsage}\n`)
        return sub ? 0 : 1
      case 'list':
        return await list(io, workspaces, values.json ?? false)
      case 'create': {
        if (!values.name || !values['owner-email'])
          throw new CliFailure(
            'use: openorch workspaces create --name "Acme" --owner-email anna@acme.example < password-file',
          )
        const password = (await io.readStdin()).split(/\r?\n/)[0] ?? ''
        const { workspace, owner } = await workspaces.create(actor, {
          name: values.name,
          owner: { email: values['owner-email'], password },
        })
        io.out(
          `Created workspace "${workspace.name}" (${workspace.id}) with owner ${owner.email}.\n` +
            'Hand the owner the initial password; they sign in to the dashboard with it and can change it under Account.\n',
        )
        return 0
      }
      case 'disable':
      case 'enable': {
        if (!target) throw new CliFailure(`missing argument: openorch workspaces ${sub} <id>`)
        const workspace = await workspaces.update(actor, target, { disabled: sub === 'disable' })
        io.out(
          sub === 'disable'
            ? `Disabled workspace "${workspace.name}" (${workspace.id}): its keys and sessions are refused and its schedules stopped.\n`
            : `Enabled workspace "${workspace.name}" (${workspace.id}) again.\n`,
        )
        return 0
      }
      default:
        throw new CliFailure(`unknown command "workspaces ${sub}".\n\n${workspacesUsage}`)
    }
  } catch (error) {
    if (error instanceof AppError) throw new CliFailure(error.message)
    throw error
  }
}

async function list(io: WorkspacesCliIo, workspaces: WorkspaceService, json: boolean): Promise<number> {
  const all: Workspace[] = []
  let cursor: string | undefined
  do {
    const page = await workspaces.list({ limit: 200, ...(cursor ? { cursor } : {}) })
    all.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  if (json) {
    io.out(`${JSON.stringify(all, null, 2)}\n`)
    return 0
  }
  const rows = all.map((w) => [
    w.id,
    `${w.name}${w.isDefault ? ' (default)' : ''}`,
    String(w.users),
    w.disabledAt === null ? 'enabled' : `disabled since ${new Date(w.disabledAt).toISOString()}`,
  ])
  const header = ['ID', 'NAME', 'USERS', 'STATE']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...r[i]!].length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')
  io.out(`${[line(header), ...rows.map(line)].join('\n')}\n`)
  return 0
}
