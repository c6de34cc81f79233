// Where the serving key pair comes from. The default reads --tls-cert-file/--tls-private-key-file and
// watches them; the self-managed source (./self-managed.ts) issues and rotates pairs instead.
import { readFile } from 'node:fs/promises'
import { watchFiles } from '../reload/file-watcher.js'
import type { FileWatcherOptions } from '../reload/file-watcher.js'
import type { KeyPair } from './key-pair.js'

export interface CertificateSource {
  /** The first pair: the server does not listen without one. */
  load: () => Promise<KeyPair>
  /** Calls `update` with every later pair; returns a function that stops watching. */
  watch: (update: (pair: KeyPair) => void) => () => void
}

/** Reads the key pair from two files and re-reads them when their directories change. */
export function fileCertificateSource (certFile: string, keyFile: string, options: FileWatcherOptions = {}): CertificateSource {
  const read = async (): Promise<KeyPair> => {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')])
    return { cert, key }
  }
  // The pair last handed out: a watch event or a poll that finds the same bytes changes nothing.
  let last: KeyPair | undefined
  return {
    async load () {
      last = await read()
      return last
    },
    watch (update) {
      let busy = false
      const check = (): void => {
        if (busy) return
        busy = true
        read().then(pair => {
          if (last === undefined || pair.cert !== last.cert || pair.key !== last.key) {
            last = pair
            update(pair)
          }
        }, err => options.onError?.(err as Error)).finally(() => { busy = false })
      }
      const watcher = watchFiles([certFile, keyFile], check, options)
      return () => { watcher.close() }
    }
  }
}
