// What the kernel knows about a server process: CPU time (all threads, from /proc/<pid>/stat) and
// memory (VmRSS, VmHWM from /proc/<pid>/status). Linux only; the benchmark runs on Linux.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

let ticksPerSecond: number | undefined
function clockTicks (): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    } catch {
      ticksPerSecond = 100
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100
  }
  return ticksPerSecond
}

/** utime + stime of every thread of the process, in µs (resolution: one clock tick, usually 10 ms). */
export function cpuTimeUs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) / clockTicks()) * 1e6
}

/** VmRSS and VmHWM (peak RSS) in MiB. */
export function memoryMiB (pid: number): { rss: number, peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
    return match === null ? Number.NaN : Number(match[1])
  }
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

/**
 * Resets the peak RSS (VmHWM) to the current RSS, so that the next reading is the peak of one
 * scenario rather than of the process's life (proc(5): writing 5 to clear_refs). Returns false where
 * the kernel or permissions do not allow it.
 */
export function resetPeakMemory (pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** The CPU model and count, for the report. */
export function machine (): { cpuModel: string, nproc: number, memoryGiB: number, kernel: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown'
  const nproc = cpuinfo.split('\n').filter(line => line.startsWith('processor')).length
  const memTotal = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  return { cpuModel: model, nproc, memoryGiB: Math.round(Number(memTotal ?? 0) / 1024 / 1024), kernel }
}

/** The 1-minute load average: other work on a shared machine shows up here. */
export function loadAverage (): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
}
