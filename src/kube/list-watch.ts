// A small reflector: list, then watch from the list's resourceVersion; when the stream ends, watch
// again from the last version seen; when the version is too old (410 Gone) or the call fails, list
// again after a growing delay. Events, not polling, drive the callbacks.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
import type { KubeApi, WatchEventType, WatchHandle } from './api.js'

export interface ListWatchLogger {
  warn: (obj: object, msg: string) => void
  debug: (obj: object, msg: string) => void
}

export interface ListWatchOptions<T> {
  api: Pick<KubeApi, 'watch'>
  /** For logs only. */
  what: string
  path: string
  /** Extra query parameters of the watch (e.g. fieldSelector). */
  query?: Record<string, string>
  list: () => Promise<{ items: T[], resourceVersion: string }>
  /** The whole current state: after every (re)list. */
  onList: (items: T[]) => void
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => void
  logger: ListWatchLogger
  minBackoffMs?: number
  maxBackoffMs?: number
  /** Asks the server to end each watch after this long (it then resumes from the last version). */
  watchTimeoutSeconds?: number
  /**
   * A watch the server has not ended this long after it began is presumed dead (a peer that vanished
   * without a TCP reset) and replaced. Default: its timeoutSeconds plus 30 s.
   */
  staleWatchMs?: number
}

export interface ListWatch {
  /** True once the first list has been delivered. */
  synced: () => boolean
  stop: () => void
}

const healthyWatchMs = 60_000

export function startListWatch<T extends { metadata?: { resourceVersion?: string } }> (options: ListWatchOptions<T>): ListWatch {
  const minBackoffMs = options.minBackoffMs ?? 1000
  const maxBackoffMs = options.maxBackoffMs ?? 30_000
  let stopped = false
  let synced = false
  let backoffMs = minBackoffMs
  let resourceVersion: string | undefined
  let handle: WatchHandle | undefined
  let timer: NodeJS.Timeout | undefined

  // list() and watch() catch their own errors; this only keeps a bug from becoming an unhandled rejection.
  const spawn = (fn: () => Promise<void>): void => {
    fn().catch((err: unknown) => { options.logger.warn({ what: options.what, err }, 'unexpected error in list-watch') })
  }
  const later = (fn: () => void, ms: number): void => {
    if (stopped) return
    timer = setTimeout(fn, ms)
  }

  const relistAfterBackoff = (reason: string, err?: Error): void => {
    options.logger.warn({ what: options.what, retryInMs: backoffMs, err }, `watch of ${options.what} interrupted (${reason}); listing again`)
    resourceVersion = undefined
    const delay = backoffMs
    backoffMs = Math.min(backoffMs * 2, maxBackoffMs)
    later(() => { spawn(list) }, delay)
  }

  async function list (): Promise<void> {
    if (stopped) return
    try {
      const result = await options.list()
      if (stopped) return
      resourceVersion = result.resourceVersion
      synced = true
      options.onList(result.items)
      await watch()
    } catch (err) {
      relistAfterBackoff('list failed', err as Error)
    }
  }

  async function watch (): Promise<void> {
    if (stopped || resourceVersion === undefined) return
    let gone = false
    let stale = false
    let sawEvent = false
    const startedAt = Date.now()
    // Jitter, so that replicas do not all reconnect at once.
    const timeoutSeconds = Math.round((options.watchTimeoutSeconds ?? 300) * (1 + Math.random() / 2))
    const query: Record<string, string | number | boolean> = { ...options.query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds }
    const watchdog = setTimeout(() => {
      stale = true
      handle?.stop()
    }, options.staleWatchMs ?? (timeoutSeconds + 30) * 1000)
    // Never what keeps the process alive (the watch connection is, while it is open).
    watchdog.unref()
    const onEvent = (type: WatchEventType, object: any): void => {
      if (stopped) return
      if (type === 'ERROR') {
        // 410 Gone: our resourceVersion is older than the server keeps; start over with a list.
        gone = true
        handle?.stop()
        return
      }
      const version = object?.metadata?.resourceVersion
      if (typeof version === 'string' && version !== '') resourceVersion = version
      if (type === 'BOOKMARK') return
      sawEvent = true
      options.onEvent(type, object as T)
    }
    const onDone = (err?: Error): void => {
      clearTimeout(watchdog)
      if (stopped) return
      handle = undefined
      // A watch that worked for a while (or delivered something) clears the backoff.
      if (sawEvent || Date.now() - startedAt >= healthyWatchMs) backoffMs = minBackoffMs
      if (gone) {
        relistAfterBackoff('resource version expired')
      } else if (stale) {
        relistAfterBackoff('the server never ended the watch; connection presumed dead')
      } else if (err !== undefined) {
        relistAfterBackoff('watch failed', err)
      } else {
        // A clean end (server timeout): resume from where we were, without a list. A server that
        // keeps ending watches at once is resumed only after the backoff.
        const quick = Date.now() - startedAt < minBackoffMs && !sawEvent
        const delay = quick ? backoffMs : 0
        if (quick) backoffMs = Math.min(backoffMs * 2, maxBackoffMs)
        options.logger.debug({ what: options.what, resourceVersion, delay }, 'watch ended; resuming')
        later(() => { spawn(watch) }, delay)
      }
    }
    try {
      handle = await options.api.watch(options.path, query, onEvent, onDone)
      if (stopped) handle.stop()
    } catch (err) {
      clearTimeout(watchdog)
      relistAfterBackoff('watch failed', err as Error)
    }
  }

  spawn(list)
  return {
    synced: () => synced,
    stop () {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      handle?.stop()
    }
  }
}
