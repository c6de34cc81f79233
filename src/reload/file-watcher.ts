// Tells the server when the files it serves from (certificate, key, config) may have changed.
// Kubernetes Secret and ConfigMap volumes update by swapping a `..data` symlink in the mount directory,
// so the file itself is never written and a watch on it misses the change: the parent directory is
// watched instead, events are debounced, and a slow poll covers watchers that miss events (as
// controller-runtime's certwatcher does). The callback re-reads and compares; it may fire with no change.
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { dirname, resolve } from 'node:path'

export interface FileWatcherOptions {
  /** Quiet time after the last event before the callback runs (Istio uses 100 ms). */
  debounceMs?: number
  /** Interval of the fallback poll; 0 disables it. */
  pollMs?: number
  onError?: (err: Error) => void
}

export interface FileWatcher { close: () => void }

export function watchFiles (paths: readonly string[], onChange: () => void, options: FileWatcherOptions = {}): FileWatcher {
  const debounceMs = options.debounceMs ?? 100
  const pollMs = options.pollMs ?? 10_000
  let timer: NodeJS.Timeout | undefined
  const fire = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => { timer = undefined; onChange() }, debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = []
  for (const dir of new Set(paths.map(p => dirname(resolve(p))))) {
    try {
      const watcher = watch(dir, { persistent: false }, fire)
      watcher.on('error', err => options.onError?.(err))
      watchers.push(watcher)
    } catch (err) {
      // The directory may not exist yet (volume not mounted): the poll still covers it.
      options.onError?.(err as Error)
    }
  }
  const poll = pollMs > 0 ? setInterval(onChange, pollMs) : undefined
  poll?.unref()
  return {
    close () {
      for (const watcher of watchers) watcher.close()
      if (timer !== undefined) clearTimeout(timer)
      if (poll !== undefined) clearInterval(poll)
    }
  }
}
