// Child processes of the e2e harness (etcd, kube-apiserver, the webhook): output goes to a log file
// that is kept when something fails, and every process is stopped by its own pid (SIGTERM, then
// SIGKILL after a grace period), also when the test process itself is interrupted.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export interface ManagedProcess {
  readonly name: string
  readonly logFile: string
  readonly child: ChildProcess
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>
  stop: (graceMs?: number) => Promise<void>
  /** The last lines of the log, for error messages. */
  tail: (lines?: number) => string
}

const running = new Set<ChildProcess>()

// A test process killed by tap's timeout (SIGTERM) or by Ctrl-C must not leave an apiserver behind.
function killAllSync (): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}
let hooked = false
function hookExit (): void {
  if (hooked) return
  hooked = true
  process.once('exit', killAllSync)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllSync()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

export function startProcess (name: string, command: string, args: readonly string[], logFile: string,
  env: NodeJS.ProcessEnv = process.env): ManagedProcess {
  hookExit()
  const fd = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env })
  closeSync(fd)
  running.add(child)
  const exited = new Promise<number | string>(resolve => {
    child.once('exit', (code, signal) => {
      running.delete(child)
      resolve(code ?? signal ?? 'unknown')
    })
    child.once('error', err => {
      running.delete(child)
      resolve(`spawn error: ${err.message}`)
    })
  })
  const tail = (lines = 20): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  return { name, logFile, child, exited, stop, tail }
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). Racy by nature: callers retry on EADDRINUSE. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Polls `check` until it returns a value other than undefined, or fails with the last error after
 * `timeoutMs`. `failFast` is consulted between attempts so that a crashed process ends the wait at once.
 */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined>, timeoutMs: number,
  failFast?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    const fatal = failFast?.()
    if (fatal !== undefined) throw new Error(`${what}: ${fatal}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === '' ? '' : ` (last error: ${last})`}`)
    await sleep(delay)
  }
}
