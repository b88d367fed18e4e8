import { type ChildProcess, spawn } from 'node:child_process'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { type JSONRPCMessage, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from '../../platform/logger.ts'
import { secretScrubber } from '../../platform/secret-scrubber.ts'

// A stdio MCP server: a program on this machine (only with OPENORCH_MCP_STDIO=true, registered by an
// owner). Not the SDK's StdioClientTransport, because the child must get a clean environment (only
// its configured variables, plus PATH; the SDK adds HOME, USER, …), its own process group (so the
// whole tree it starts is stopped with it), a cap on each message it writes (a server answering
// megabytes without a newline would otherwise grow our memory), and its stderr in the log with its
// secrets scrubbed.

export interface StdioTarget {
  command: string
  args: readonly string[]
  env: Readonly<Record<string, string>>
}

export interface StdioTransportOptions {
  log: Logger
  /** Bytes of one message (one line) at most; a longer one stops the child. */
  maxMessageBytes: number
  /** stderr lines logged at most per child (a chatty server cannot flood the log). */
  maxStderrLines?: number
  /** How long a child has to exit after SIGTERM before its group is killed. */
  killGraceMs?: number
}

export class StdioMcpTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage) => void

  private child: ChildProcess | undefined
  private buffered: Buffer[] = []
  private bufferedBytes = 0
  private stderrLines = 0
  private stderrRest = ''
  private exited: Promise<void> | undefined
  private closed = false
  /** Why the child stopped, in words (exit code, signal, a message too large). */
  failure: string | undefined

  private readonly target: StdioTarget
  private readonly options: StdioTransportOptions

  constructor(target: StdioTarget, options: StdioTransportOptions) {
    this.target = target
    this.options = options
  }

  /** The child's process id while it runs (tests check that it is gone). */
  get pid(): number | undefined {
    return this.child?.pid
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const env: Record<string, string> = { ...this.target.env }
      if (process.env.PATH && env.PATH === undefined) env.PATH = process.env.PATH
      const child = spawn(this.target.command, [...this.target.args], {
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: stopping it kills whatever it started too.
        detached: true,
        windowsHide: true,
      })
      this.child = child
      this.exited = new Promise((done) => child.once('close', () => done()))
      child.once('error', (error) => {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
        this.failure = missing
          ? `the command "${this.target.command}" was not found (PATH of the orchestrator: ${env.PATH ?? 'unset'})`
          : `the command "${this.target.command}" could not be started: ${error.message}`
        reject(new Error(this.failure))
        this.finish()
      })
      child.once('spawn', () => resolve())
      child.once('exit', (code, signal) => {
        this.failure ??= signal
          ? `the program was stopped by ${signal}`
          : `the program exited with code ${code}`
        this.finish()
      })
      child.stdout!.on('data', (chunk: Buffer) => this.readStdout(chunk))
      child.stderr!.on('data', (chunk: Buffer) => this.readStderr(chunk))
      // A child that stops reading its stdin must not crash us with EPIPE.
      child.stdin!.on('error', () => {})
    })
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin
    if (!stdin || this.closed) throw new Error(this.failure ?? 'the program is not running')
    const line = `${JSON.stringify(message)}\n`
    if (!stdin.write(line)) await new Promise<void>((resolve) => stdin.once('drain', resolve))
  }

  /** Stops the child and its process group: SIGTERM, then SIGKILL after the grace period. */
  async close(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.finish()
      return
    }
    this.failure ??= 'the connection was closed'
    killGroup(child, 'SIGTERM')
    const grace = setTimeout(() => killGroup(child, 'SIGKILL'), this.options.killGraceMs ?? 2000)
    try {
      await this.exited
    } finally {
      clearTimeout(grace)
      // Whatever the program left behind in its group goes too.
      killGroup(child, 'SIGKILL')
    }
    this.finish()
  }

  private finish(): void {
    if (this.closed) return
    this.closed = true
    this.onclose?.()
  }

  private readStdout(chunk: Buffer): void {
    let start = 0
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.buffered.push(chunk.subarray(start, newline))
      const line = Buffer.concat(this.buffered).toString('utf8')
      this.buffered = []
      this.bufferedBytes = 0
      start = newline + 1
      if (!this.checkSize(line.length)) return
      this.deliver(line)
    }
    if (start < chunk.length) {
      this.buffered.push(chunk.subarray(start))
      this.bufferedBytes += chunk.length - start
      this.checkSize(this.bufferedBytes)
    }
  }

  private checkSize(bytes: number): boolean {
    if (bytes <= this.options.maxMessageBytes) return true
    this.failure = `the program wrote a message larger than ${Math.round(this.options.maxMessageBytes / 1024)} KiB, so it was stopped`
    this.buffered = []
    this.bufferedBytes = 0
    this.onerror?.(new Error(this.failure))
    void this.close()
    return false
  }

  private deliver(line: string): void {
    if (line.trim() === '') return
    let message: JSONRPCMessage
    try {
      message = JSONRPCMessageSchema.parse(JSON.parse(line))
    } catch {
      // Not a protocol message (a stray print): logged, not delivered.
      this.logStderr(`(not a protocol message on stdout) ${line.slice(0, 500)}`)
      return
    }
    this.onmessage?.(message)
  }

  private readStderr(chunk: Buffer): void {
    const text = this.stderrRest + chunk.toString('utf8')
    const lines = text.split('\n')
    this.stderrRest = (lines.pop() ?? '').slice(0, 4000)
    for (const line of lines) if (line.trim() !== '') this.logStderr(line)
  }

  private logStderr(line: string): void {
    const max = this.options.maxStderrLines ?? 200
    this.stderrLines++
    if (this.stderrLines > max) {
      if (this.stderrLines === max + 1) this.options.log.warn('mcp server stderr: further lines dropped')
      return
    }
    this.options.log.warn({ stderr: this.scrub(line.slice(0, 2000)) }, 'mcp server stderr')
  }

  /** The child's own variables are secrets whatever their length; the registered ones are scrubbed too. */
  private scrub(text: string): string {
    let out = text
    for (const value of Object.values(this.target.env))
      if (value.length >= 4 && out.includes(value)) out = out.replaceAll(value, '[redacted]')
    return secretScrubber.scrub(out)
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // The group is gone already; the child itself may still be a zombie waiting to be reaped.
    try {
      child.kill(signal)
    } catch {}
  }
}
