// An in-memory CliIo: commands run in-process with captured output and a given stdin.
import { Readable } from 'node:stream'
import type { CliIo } from '../../src/cli/io.js'

export interface CapturedIo extends CliIo {
  out: () => string
  err: () => string
}

export function captureIo (options: { stdin?: string, env?: Record<string, string>, cwd?: string } = {}): CapturedIo {
  let out = ''
  let err = ''
  return {
    stdout: text => { out += text },
    stderr: text => { err += text },
    env: options.env ?? {},
    stdin: Readable.from([options.stdin ?? '']),
    cwd: options.cwd ?? process.cwd(),
    out: () => out,
    err: () => err
  }
}
