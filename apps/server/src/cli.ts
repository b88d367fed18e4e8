import os from 'node:os'
import { parseArgs } from 'node:util'
import { appendAudit, systemEntry, verifyAudit } from './audit/audit.store.ts'
import { isRole } from './auth/role.ts'
import { backupCommand, migrateToPostgresCommand, restoreCommand } from './cli/backup-commands.ts'
import { botsUsage, CliFailure, runBotsCommand } from './cli/bots.cli.ts'
import { modeUsage, runModeCommand } from './cli/mode.cli.ts'
import { runWorkspacesCommand, workspacesUsage } from './cli/workspaces.cli.ts'
import { openServerDatabase, startServer } from './main.ts'
import { migrations } from './migrations/index.ts'
import { systemClock } from './platform/clock.ts'
import { ConfigError, loadConfig } from './platform/config.ts'
import { createVault } from './platform/crypto.ts'
import { migrateToLatest, refuseNewerSchema } from './platform/db/migrator.ts'
import { describePostgresTlsError } from './platform/db/postgres-tls.ts'
import { AppError, toError } from './platform/errors.ts'
import { tuneHeapForServer } from './platform/heap.ts'
import { createLogger } from './platform/logger.ts'
import { rotateSecrets } from './secrets/rotate-secrets.ts'
import { createUserService } from './users/user.service.ts'
import { createWorkspaceService } from './workspaces/workspace.service.ts'
import { findWorkspace } from './workspaces/workspace.store.ts'

// `openorch <command>`: errors print what to do, never a stack trace.
const usage = `Usage: openorch <command>

Commands:
  start      Start the orchestrator (API, scheduler and workers) — the default
  migrate    Apply pending database migrations and exit
  bots       List, run, export and import bots of a running orchestrator (openorch bots help)
  audit verify   Check the audit trail's hash chain: exit 1 naming the first changed or missing entry
  users create --email E [--role owner] [--workspace default]
                 Create a dashboard user; the password is read from standard input (never an argument)
  workspaces     List, create, disable and enable workspaces (openorch workspaces help)
  mode [normal|degraded|paused] [--min-priority N] [--reason TEXT]
                 Show or change the operating mode of every process (openorch mode help)
  secrets rotate Encrypt every stored secret again with OPENORCH_MASTER_KEY (old keys in OPENORCH_EXTRA_MASTER_KEYS)
  backup <file>  Copy the running SQLite installation's database into <file> (online, consistent), then check it
  restore <file> Check a backup and put it in place of the database of a STOPPED SQLite installation
                 (the old database is kept as openorch.db.before-restore-<time>)
  migrate-to-postgres <url> [--batch-rows N] [--pause-ms N]
                 Copy a stopped SQLite installation into an empty PostgreSQL database, verified
                 (resumes where it stopped when run again after an interruption)
  help       Show this help

Configuration comes from environment variables (see README.md): PORT, OPENORCH_DATA_DIR,
DATABASE_URL, OPENORCH_API_KEY, OPENORCH_MASTER_KEY, OPENORCH_CONCURRENCY, …`

function fail(message: string): never {
  process.stderr.write(`openorch: ${message}\n`)
  process.exit(1)
}

function config() {
  try {
    return loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError)
      fail(`${error.message}\nFix these environment variables and start again.`)
    throw error
  }
}

function explain(error: unknown): string {
  const e = toError(error) as Error & { code?: string }
  const tls = describePostgresTlsError(e)
  if (tls) return tls
  if (e.code === 'ECONNREFUSED')
    return `cannot reach the database (${e.message}). Is PostgreSQL running, and is DATABASE_URL right?`
  if (e.code === 'EADDRINUSE') return `${e.message}: another program uses this port. Set PORT to a free port.`
  if (e.code === 'EACCES') return `${e.message}: permission denied. Check OPENORCH_DATA_DIR and PORT.`
  if (e.code === '28P01' || e.code === '28000')
    return `the database refused the login (${e.message}). Check DATABASE_URL.`
  if (e.code === '3D000') return `${e.message}. Create the database or fix DATABASE_URL.`
  return e.message
}

async function start() {
  tuneHeapForServer()
  const cfg = config()
  const log = createLogger(cfg.log)
  const server = await startServer(cfg, log).catch((error) => fail(`could not start: ${explain(error)}`))
  // Handlers first: whoever reads the banner may send SIGTERM at once.
  let signals = 0
  const stop = (signal: string) => {
    signals++
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    log.info({ signal }, 'signal received')
    server.close().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: toError(error) }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // A renewed certificate (certbot's deploy hook, cert-manager): new connections get it, none drop.
  if (cfg.http.tls && server.url) process.on('SIGHUP', () => server.reloadTls())
  const where = cfg.database.url ? 'PostgreSQL' : `SQLite at ${cfg.database.sqlitePath}`
  process.stdout.write(`\nopenOrchestrator is running at ${server.url} — database: ${where}\n`)
  if (cfg.roles.includes('api')) process.stdout.write(`API docs: ${server.url}/docs\n`)
  else
    process.stdout.write(
      `No api role (OPENORCH_ROLES=${cfg.roles.join(',')}): this port serves only /health, /ready and /metrics.\n`,
    )
  if (server.ownerKey && !cfg.auth.bootstrapApiKey) {
    process.stdout.write(
      `\nOwner API key (shown once, store it now):\n\n  ${server.ownerKey}\n\nSend it as "Authorization: Bearer <key>" or "X-API-Key: <key>".\n\n`,
    )
  }
}

async function migrate() {
  const cfg = config()
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    const applied = await migrateToLatest(database.db, database.dialect, migrations)
    process.stdout.write(
      applied.length > 0 ? `Applied: ${applied.join(', ')}\n` : 'The database is up to date.\n',
    )
  } catch (error) {
    fail(`migration failed: ${explain(error)}`)
  } finally {
    await database.close()
  }
}

async function auditCommand(sub: string | undefined) {
  if (sub !== 'verify') fail(`unknown command "audit ${sub ?? ''}". Use: openorch audit verify`)
  const cfg = config()
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    // A newer version's trail may follow rules this one does not know.
    await refuseNewerSchema(database.db, database.dialect, migrations).catch((error) => fail(explain(error)))
    const result = await verifyAudit(database)
    if (result.ok) {
      process.stdout.write(
        `The audit trail is intact: ${result.entries} entries, head ${result.head.slice(0, 16)}….\n`,
      )
    } else {
      process.stderr.write(
        `openorch: the audit trail is broken at entry ${result.id} (${result.problem}): ${result.detail}\n` +
          `${result.entries} entries before it are intact. Restore the audit_log table from a backup and investigate who had write access to the database.\n`,
      )
      process.exitCode = 1
    }
  } catch (error) {
    fail(`could not read the audit trail: ${explain(error)}`)
  } finally {
    await database.close()
  }
}

/** Who ran a command, for the audit trail: the operating-system account. */
function operator(): string {
  try {
    return os.userInfo().username
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

async function secretsCommand(sub: string | undefined) {
  if (sub !== 'rotate') fail(`unknown command "secrets ${sub ?? ''}". Use: openorch secrets rotate`)
  const cfg = config()
  let vault: ReturnType<typeof createVault>
  try {
    vault = createVault({ masterKey: cfg.masterKey, dataDir: cfg.dataDir, extraKeys: cfg.extraMasterKeys })
  } catch (error) {
    fail(`${toError(error).message}`)
  }
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    await refuseNewerSchema(database.db, database.dialect, migrations).catch((error) => fail(explain(error)))
    const result = await rotateSecrets(database, vault)
    // The rotation is the installation's, recorded in the default workspace (its operator's).
    await appendAudit(database, [
      systemEntry({
        tenantId: 'default',
        at: Date.now(),
        actorType: 'cli',
        actorId: operator(),
        action: 'secrets.rotated',
        details: {
          keyId: vault.keyId,
          rotated: result.rotated,
          current: result.current,
          raced: result.raced,
          failed: result.failed.length,
        },
      }),
    ])
    process.stdout.write(
      `Secrets under master key ${vault.keyId}: ${result.rotated} re-encrypted, ${result.current} already current` +
        `${result.raced > 0 ? `, ${result.raced} changed meanwhile (left as saved)` : ''}.\n`,
    )
    if (result.failed.length > 0) {
      process.stderr.write(
        `openorch: ${result.failed.length} secret(s) could not be read:\n${result.failed
          .map((f) => `  ${f.where}: ${f.error}`)
          .join(
            '\n',
          )}\nAdd the key they were saved with to OPENORCH_EXTRA_MASTER_KEYS and run this again, or save them again.\n`,
      )
      process.exitCode = 1
    } else if (result.rotated + result.current > 0)
      process.stdout.write(
        'Every secret is readable with OPENORCH_MASTER_KEY alone now; OPENORCH_EXTRA_MASTER_KEYS can go.\n',
      )
  } catch (error) {
    fail(`rotation failed: ${explain(error)}`)
  } finally {
    await database.close()
  }
}

async function usersCommand(argv: string[]) {
  const { values, positionals: rest } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      role: { type: 'string', default: 'owner' },
      workspace: { type: 'string', default: 'default' },
    },
  })
  if (rest[0] !== 'create' || !values.email)
    fail(
      'use: openorch users create --email anna@example.com [--role owner|admin|editor|viewer] < password-file',
    )
  if (!isRole(values.role ?? '')) fail(`--role must be owner, admin, editor or viewer, not "${values.role}".`)
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
  const cfg = config()
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    const applied = await migrateToLatest(database.db, database.dialect, migrations)
    if (applied.length > 0) process.stderr.write(`Migrated: ${applied.join(', ')}\n`)
    const vault = createVault({
      masterKey: cfg.masterKey,
      dataDir: cfg.dataDir,
      extraKeys: cfg.extraMasterKeys,
    })
    const users = createUserService({
      database,
      clock: systemClock,
      log: createLogger({ level: 'warn' }),
      signingKey: vault.deriveKey('openorch session signing v1'),
    })
    const workspace = values.workspace ?? 'default'
    if (!(await findWorkspace(database.db, workspace)))
      fail(
        `there is no workspace "${workspace}". "openorch workspaces list" shows them; "openorch workspaces create" makes one with its first owner.`,
      )
    const user = await users.createUser({
      tenantId: values.workspace ?? 'default',
      email: values.email,
      password,
      role: values.role as 'owner',
    })
    await appendAudit(database, [
      systemEntry({
        tenantId: user.tenantId,
        at: user.createdAt,
        actorType: 'cli',
        actorId: operator(),
        action: 'users.created',
        targetType: 'users',
        targetId: user.id,
        details: { role: user.role },
      }),
    ])
    process.stdout.write(`Created ${user.role} ${user.email} (${user.id}) in workspace ${user.tenantId}.\n`)
  } catch (error) {
    if (error instanceof AppError) fail(`${error.message}`)
    fail(explain(error))
  } finally {
    await database.close()
  }
}

async function workspacesCommand(argv: string[]) {
  const readStdin = async () => {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  }
  // Help needs no database.
  const sub = argv.find((arg) => !arg.startsWith('-'))
  if (!sub || sub === 'help') {
    out(`${workspacesUsage}\n`)
    process.exitCode = sub ? 0 : 1
    return
  }
  const cfg = config()
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    const applied = await migrateToLatest(database.db, database.dialect, migrations)
    if (applied.length > 0) process.stderr.write(`Migrated: ${applied.join(', ')}\n`)
    const log = createLogger({ level: 'warn' })
    const vault = createVault({
      masterKey: cfg.masterKey,
      dataDir: cfg.dataDir,
      extraKeys: cfg.extraMasterKeys,
    })
    const users = createUserService({
      database,
      clock: systemClock,
      log,
      signingKey: vault.deriveKey('openorch session signing v1'),
    })
    const workspaces = createWorkspaceService({ database, clock: systemClock, log, users })
    process.exitCode = await runWorkspacesCommand(argv, { out, readStdin, operator: operator() }, workspaces)
  } catch (error) {
    if (error instanceof CliFailure) fail(error.message)
    fail(explain(error))
  } finally {
    await database.close()
  }
}

async function modeCommand(argv: string[]) {
  if (argv[0] === 'help') {
    out(`${modeUsage}\n`)
    return
  }
  const cfg = config()
  const database = await openServerDatabase(cfg).catch((error) => fail(explain(error)))
  try {
    const applied = await migrateToLatest(database.db, database.dialect, migrations)
    if (applied.length > 0) process.stderr.write(`Migrated: ${applied.join(', ')}\n`)
    process.exitCode = await runModeCommand(argv, { out, operator: operator() }, database)
  } catch (error) {
    if (error instanceof CliFailure) fail(error.message)
    fail(explain(error))
  } finally {
    await database.close()
  }
}

function out(text: string): void {
  process.stdout.write(text)
}

async function bots(argv: string[]) {
  try {
    const code = await runBotsCommand(argv, {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      env: process.env,
      readStdin: async () => {
        const chunks: Buffer[] = []
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks).toString('utf8')
      },
    })
    process.exitCode = code
  } catch (error) {
    fail(error instanceof CliFailure ? error.message : `${toError(error).message}\n\n${botsUsage}`)
  }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: { help: { type: 'boolean', short: 'h' } },
})
// `openorch --help` asks for help; it must not start a server.
const command = positionals[0] ?? (values.help ? 'help' : 'start')
switch (command) {
  case 'users':
    await usersCommand(process.argv.slice(process.argv.indexOf('users') + 1))
    break
  case 'workspaces':
    await workspacesCommand(process.argv.slice(process.argv.indexOf('workspaces') + 1))
    break
  case 'secrets':
    await secretsCommand(positionals[1])
    break
  case 'audit':
    await auditCommand(positionals[1])
    break
  case 'bots':
    await bots(process.argv.slice(process.argv.indexOf('bots') + 1))
    break
  case 'mode':
    await modeCommand(process.argv.slice(process.argv.indexOf('mode') + 1))
    break
  case 'start':
    await start()
    break
  case 'backup':
    await backupCommand(positionals[1], config())
    break
  case 'restore':
    await restoreCommand(positionals[1], config())
    break
  case 'migrate-to-postgres':
    await migrateToPostgresCommand(
      process.argv.slice(process.argv.indexOf('migrate-to-postgres') + 1),
      config(),
    )
    break
  case 'migrate':
    await migrate()
    break
  case 'help':
  case '--help':
    process.stdout.write(`${usage}\n`)
    break
  default:
    fail(`unknown command "${command}".\n\n${usage}`)
}
