import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'

const childScript = path.join(import.meta.dirname, 'worker-child.ts')

export interface ChildHandle {
  process: ChildProcess
  lines: Array<Record<string, unknown>>
  /** Resolves with the first line matching `predicate` (already seen or yet to come). */
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  exited: Promise<number | null>
}

export function spawnWorkerChild(config: Record<string, unknown>): ChildHandle {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript], {
    env: { ...process.env, OPENORCH_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{
    predicate: (line: Record<string, unknown>) => boolean
    resolve: (line: Record<string, unknown>) => void
  }> = []
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text)
    } catch {
      line = { raw: text }
    }
    lines.push(line)
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    process: child,
    lines,
    exited,
    waitForLine(predicate, timeoutMs = 30_000) {
      const seen = lines.find(predicate)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child ${child.pid}: no matching line within ${timeoutMs} ms`)),
          timeoutMs,
        )
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer)
            resolve(line)
          },
        })
      })
    },
  }
}
