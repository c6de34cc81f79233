// What a CLI command may touch of the outside world: given by the composition root (src/cli.ts),
// so that commands run in tests with in-memory streams and a fake environment.
import type { Readable } from 'node:stream'

export interface CliIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
  readonly stdin: Readable
  readonly cwd: string
}

/** A command returns its exit code; it never calls process.exit itself. */
export type CliCommand = (args: readonly string[], io: CliIo) => Promise<number>

/** A usage error: the command line itself is wrong (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError'
}
