// The output of inject/uninject, all or nothing with bounded memory: documents are written here as
// they are transformed; nothing reaches stdout until every document has been read and checked (an
// error anywhere means nothing is written: docs/cli.md). Up to `budget` characters stay in memory —
// every ordinary manifest; past it, the text goes to a private temporary file, copied to stdout once
// the run succeeded. Where no temporary file can be made (a read-only file system), it stays in memory.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import type { CliIo } from './io.js'

/** Characters held in memory before the output goes to a temporary file. */
export const memoryBudget = 4 * 1024 * 1024
/** Bytes per write to stdout, each followed by waiting until stdout has taken it. */
const block = 1024 * 1024

export class PendingOutput {
  private readonly chunks: string[] = []
  private held = 0
  private total = 0
  private file: { dir: string, fd: number } | undefined
  private budget: number
  private readonly tempRoot: string

  constructor (budget = memoryBudget, tempRoot = tmpdir()) {
    this.budget = budget
    this.tempRoot = tempRoot
  }

  /** The output went to a temporary file (it passed the budget). */
  get spilled (): boolean {
    return this.file !== undefined
  }

  /** Nothing was written. */
  get empty (): boolean {
    return this.total === 0
  }

  readonly write = (text: string): void => {
    this.chunks.push(text)
    this.held += text.length
    this.total += text.length
    if (this.held > this.budget) this.spill()
  }

  /** Writes everything to stdout in blocks of about 1 MiB, waiting for stdout to drain after each. */
  async commit (io: CliIo): Promise<void> {
    try {
      if (this.file === undefined) {
        let pending = ''
        for (const chunk of this.chunks) {
          pending += chunk
          if (pending.length < block) continue
          io.stdout(pending)
          pending = ''
          await io.drain?.()
        }
        if (pending !== '') io.stdout(pending)
        return
      }
      this.spill()
      const decoder = new StringDecoder('utf8')
      const buffer = Buffer.allocUnsafe(block)
      let position = 0
      for (;;) {
        const n = readSync(this.file.fd, buffer, 0, block, position)
        if (n === 0) break
        position += n
        io.stdout(decoder.write(buffer.subarray(0, n)))
        await io.drain?.()
      }
      const rest = decoder.end()
      if (rest !== '') io.stdout(rest)
    } finally {
      this.discard()
    }
  }

  /** Forgets the output (an error was found): nothing is written, the temporary file is removed. */
  discard (): void {
    this.chunks.length = 0
    this.held = 0
    if (this.file === undefined) return
    closeSync(this.file.fd)
    rmSync(this.file.dir, { recursive: true, force: true })
    this.file = undefined
  }

  private spill (): void {
    if (this.file === undefined) {
      try {
        // A directory of our own (mode 0700): the manifests may hold secrets.
        const dir = mkdtempSync(join(this.tempRoot, 'sidecar-injector-'))
        const path = join(dir, 'output')
        this.file = { dir, fd: openSync(path, 'w+', 0o600) }
        // Unlinked at once, used through its descriptor: nothing is left behind even when the
        // process is killed (Ctrl-C). Where an open file cannot be removed, discard() removes it.
        try {
          rmSync(dir, { recursive: true })
        } catch {}
      } catch {
        this.budget = Number.POSITIVE_INFINITY
        return
      }
    }
    // One write per spill, not one per document.
    writeSync(this.file.fd, this.chunks.join(''))
    this.chunks.length = 0
    this.held = 0
  }
}

/** `produce` writing into a new PendingOutput, which is discarded (its temporary file removed) if produce throws. */
export function pendingOutputOf<T> (produce: (write: (text: string) => void) => T): { output: PendingOutput, result: T } {
  const output = new PendingOutput()
  try {
    return { output, result: produce(output.write) }
  } catch (err) {
    output.discard()
    throw err
  }
}
