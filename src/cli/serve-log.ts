// The webhook's log: pino's JSON lines on stdout, written in batches. One write(2) per admission line
// was a seventh of a 5 KiB review's CPU (BENCHMARKS.md, issue 16); lines are now gathered and
// written together when `batchBytes` are waiting or `flushMs` after the first of them, whichever is
// first. Warnings and errors are written at once with whatever waits before them, so that the lines
// that explain a failure are out even if the process is then killed. The rest can be lost only by a
// kill that runs no code (SIGKILL, the kernel's OOM killer), and then at most `flushMs` of lines: on
// exit (SIGTERM's drain, an uncaught exception, a second Ctrl-C) `flush` writes them.
// pino.destination with sync: true never queues behind the disk: the buffer is bounded by batchBytes.
import { pino } from 'pino'
import type { DestinationStream, Logger } from 'pino'

export interface ServeLog {
  logger: Logger
  /** Writes what waits, synchronously (for the process's exit). */
  flush: () => void
}

export interface ServeLogOptions {
  batchBytes: number
  flushMs: number
  /** File descriptor written to; stdout by default. */
  fd?: number
}

/** ~25 admission lines; sonic-boom writes at most 16 KiB at once, so a batch must stay below. */
export const defaultServeLog: ServeLogOptions = { batchBytes: 8 * 1024, flushMs: 100 }

/** pino writes `{"level":NN,` first: the tens digit of warn (40), error (50) and fatal (60) is ≥ 4. */
const levelDigitAt = '{"level":'.length
const warnDigit = '4'.charCodeAt(0)

export function createServeLog (level: string, options: ServeLogOptions = defaultServeLog): ServeLog {
  const boom = pino.destination({ dest: options.fd ?? 1, sync: true, minLength: options.batchBytes, periodicFlush: options.flushMs })
  const destination: DestinationStream = {
    write (line: string) {
      boom.write(line)
      if (line.charCodeAt(levelDigitAt) >= warnDigit) boom.flushSync()
    }
  }
  const logger = pino({ level, timestamp: pino.stdTimeFunctions.isoTime }, destination)
  return {
    logger,
    flush: () => {
      // A closed or broken stdout (EPIPE) must not turn the exit into a crash.
      try { boom.flushSync() } catch {}
    }
  }
}
