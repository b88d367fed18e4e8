import fs from 'node:fs'

// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ).
const ticksPerSecond = 100

/** CPU milliseconds (user + system) a process on this machine has used so far, or null if it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return null
  }
}

/**
 * CPU milliseconds the whole machine has spent busy (user, nice, system, irq, softirq; not idle,
 * iowait or steal), from /proc/stat. The difference over a drain, divided by its runs, is the CPU a
 * run costs everything together — the engine's process, its PostgreSQL backends and the kernel's
 * loopback network work — which compares engines whose work is split differently between them.
 * Includes whatever else runs on the machine, so read it on a quiet machine.
 */
export function machineBusyMs(): number | null {
  try {
    const fields = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields
    return ((user + nice + system + irq + softirq) * 1000) / ticksPerSecond
  } catch {
    return null
  }
}

export interface CpuMark {
  machineMs: number | null
  process: NodeJS.CpuUsage
}

export function markCpu(): CpuMark {
  return { machineMs: machineBusyMs(), process: process.cpuUsage() }
}

/** `BENCH_TRACE_CPU=1`: prints the CPU per run since `mark`, of the machine and of this process, to stderr. */
export function reportCpu(label: string, mark: CpuMark, runs: number): void {
  const end = machineBusyMs()
  if (process.env.BENCH_TRACE_CPU !== '1' || mark.machineMs === null || end === null) return
  const own = process.cpuUsage(mark.process)
  const perRun = (ms: number) => ((ms * 1000) / runs).toFixed(0)
  process.stderr.write(
    `cpu per run (${label}): machine ${perRun(end - mark.machineMs)} µs, this process ${perRun((own.user + own.system) / 1000)} µs\n`,
  )
}
