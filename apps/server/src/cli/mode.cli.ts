import { parseArgs } from 'node:util'
import { firstUnsafeCharacter, type OperatingMode, operatingModeNames } from '@openorch/contracts'
import { sql } from 'kysely'
import type { Db } from '../database.ts'
import { AppError } from '../platform/errors.ts'
import { modeChangedMessage, readMode, writeMode } from '../system/operating-mode.ts'
import { CliFailure } from './bots.cli.ts'

// `openorch mode`: shows or changes the cluster's operating mode straight on the database (decision
// 0040), so it works while the API is down or every admin is locked out. On PostgreSQL the running
// processes are told at once (NOTIFY); on SQLite the server reads the mode again within 5 seconds.

export const modeUsage = `Usage: openorch mode [normal|degraded|paused] [--min-priority N] [--reason TEXT] [--json]

Without a mode: shows the operating mode. With one, changes it for every process (audited):
  normal    everything runs
  degraded  only runs of priority N or more start (--min-priority, default 1); the others wait
  paused    nothing new starts; running runs finish; schedules keep queueing their slots`

function describe(mode: OperatingMode): string {
  const what =
    mode.mode === 'degraded'
      ? `degraded: only runs of priority ${mode.minPriority} or more start`
      : mode.mode === 'paused'
        ? 'paused: nothing new starts; running runs finish'
        : 'normal: everything runs'
  const since = mode.changedAt
    ? ` (since ${mode.changedAt}${mode.changedBy ? ` by ${mode.changedBy.type}${mode.changedBy.id ? ` ${mode.changedBy.id}` : ''}` : ''})`
    : ''
  // A reason stored before it was checked (or written to the table by hand) must not drive the terminal.
  const reason = (mode.reason ?? '').replace(
    /[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu,
    (character) => `\\u{${(character.codePointAt(0) ?? 0).toString(16)}}`,
  )
  return `Operating mode: ${what}${since}${reason ? `\nReason: ${reason}` : ''}\n`
}

export async function runModeCommand(
  argv: string[],
  io: { out: (text: string) => void; operator: string },
  database: Db,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'min-priority': { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const print = (mode: OperatingMode) => io.out(values.json ? `${JSON.stringify(mode)}\n` : describe(mode))
  const wanted = positionals[0]
  if (wanted === undefined) {
    print(await readMode(database.db))
    return 0
  }
  if (wanted === 'help') {
    io.out(`${modeUsage}\n`)
    return 0
  }
  if (!(operatingModeNames as readonly string[]).includes(wanted))
    throw new CliFailure(`"${wanted}" is not a mode: use normal, degraded or paused.\n\n${modeUsage}`)
  const raw = values['min-priority']
  const minPriority = raw === undefined ? undefined : Number(raw)
  if (
    minPriority !== undefined &&
    (!Number.isInteger(minPriority) || minPriority < -100 || minPriority > 100)
  )
    throw new CliFailure(`--min-priority must be a whole number from -100 to 100, not "${raw}".`)
  const reason = values.reason?.trim() || null
  const unsafe = reason === null ? undefined : firstUnsafeCharacter(reason)
  if (unsafe)
    throw new CliFailure(
      `--reason may not contain ${unsafe} (a control, bidi-control or invisible character).`,
    )
  if (reason !== null && reason.length > 500) throw new CliFailure('--reason may be at most 500 characters.')
  try {
    const { after } = await writeMode(
      database,
      { mode: wanted as OperatingMode['mode'], minPriority, reason },
      { type: 'cli', id: io.operator, tenantId: 'default' },
      Date.now(),
    )
    if (database.dialect === 'postgres')
      await sql`SELECT pg_notify('openorch_control', ${modeChangedMessage})`.execute(database.db)
    print(after)
    if (database.dialect === 'sqlite')
      io.out('A running orchestrator on this database follows within 5 seconds.\n')
    return 0
  } catch (error) {
    if (error instanceof AppError) throw new CliFailure(error.message)
    throw error
  }
}
