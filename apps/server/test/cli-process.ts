import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'

// `openorch <command>` as a child process (bin/openorch.mjs), its output collected, for tests of the
// operator commands (backup, restore, migrate-to-postgres).

const bin = path.join(import.meta.dirname, '..', 'bin', 'openorch.mjs')

export interface CliProcess {
  child: ChildProcess
  exited: Promise<number | null>
  out(): string
  err(): string
}

export function runCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, OPENORCH_LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (chunk) => {
    out += chunk
  })
  child.stderr!.on('data', (chunk) => {
    err += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, exited, out: () => out, err: () => err }
}

/** Runs a command to its end: exit code and output. */
export async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  const run = runCli(args, env)
  const code = await run.exited
  return { code, out: run.out(), err: run.err() }
}
