// What a CLI command may touch of the outside world: given by the composition root (src/cli.ts),
// so that commands run in tests with in-memory streams and a fake environment.
import type { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import type { ParseArgsOptionsConfig } from 'node:util'

export interface CliIo {
  readonly stdout: (text: string) => void
  /** Resolves once stdout has taken what was written (a pipe holds the rest in memory until then). */
  readonly drain?: () => Promise<void>
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
  readonly stdin: Readable
  readonly cwd: string
  /** Calls `handler` on each SIGTERM and SIGINT; only long-running commands (serve) ask. */
  readonly onSignal?: (handler: (signal: StopSignal) => void) => void
  /** Ends the process at once (a second Ctrl-C); commands otherwise return their exit code. */
  readonly exit?: (code: number) => void
  /** Calls `handler` when the process exits, however it exits (synchronous code only). */
  readonly onExit?: (handler: () => void) => void
}

export type StopSignal = 'SIGTERM' | 'SIGINT'

/** A command returns its exit code; it never touches `process` itself. */
export type CliCommand = (args: readonly string[], io: CliIo) => Promise<number>

/** A usage error: the command line itself is wrong (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError'
}

/**
 * A command's flags by node's parseArgs: no positionals, unknown flags refused. A bad command line
 * is a UsageError (exit code 2), followed by `usage` when the command gives one.
 */
export function parseFlags<const T extends ParseArgsOptionsConfig> (args: readonly string[], options: T, usage?: string) {
  try {
    return parseArgs<{ args: string[], options: T, strict: true, allowPositionals: false }>({ args: [...args], options, strict: true, allowPositionals: false }).values
  } catch (err) {
    const message = (err as Error).message
    throw new UsageError(usage === undefined ? message : `${message}\n\n${usage}`)
  }
}
