// A small reflector: list, then watch from the list's resourceVersion; when the stream ends, watch
// again from the last version seen; when the version is too old (410 Gone) or the call fails, list
// again after a growing delay. Events, not polling, drive the callbacks. Written as a state machine:
//   listing --list ok--> watching --clean end--> watching (resumed, after a backoff if it ended at once)
//   listing/watching --failure, 410 Gone, stale watch--> backing-off --delay--> listing
//   any --stop()--> stopped
// Every failure goes through one handler (relistAfterBackoff): logged with its reason and counted.
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
  /** Counts each failure by reason (a metric); the failure is also logged. */
  onFailure?: (reason: ListWatchFailure) => void
}

export type ListWatchFailure = 'list-failed' | 'watch-failed' | 'resource-version-expired' | 'stale-watch' | 'unexpected-error'
export type ListWatchState = 'listing' | 'watching' | 'backing-off' | 'stopped'

export interface ListWatch {
  /** True once the first list has been delivered. */
  synced: () => boolean
  state: () => ListWatchState
  stop: () => void
}

const healthyWatchMs = 60_000

const failureMessages: Record<ListWatchFailure, string> = {
  'list-failed': 'list failed',
  'watch-failed': 'watch failed',
  'resource-version-expired': 'resource version expired',
  'stale-watch': 'the server never ended the watch; connection presumed dead',
  'unexpected-error': 'unexpected error'
}

/** How one watch call ended, as the machine sees it. */
type WatchEnd = { kind: 'clean' } | { kind: 'failed', reason: ListWatchFailure, err?: Error }

export function startListWatch<T extends { metadata?: { resourceVersion?: string } }> (options: ListWatchOptions<T>): ListWatch {
  const machine = new Reflector(options)
  machine.start()
  return { synced: () => machine.synced, state: () => machine.state, stop: () => { machine.stop() } }
}

class Reflector<T extends { metadata?: { resourceVersion?: string } }> {
  state: ListWatchState = 'listing'
  synced = false
  private readonly options: ListWatchOptions<T>
  private readonly minBackoffMs: number
  private readonly maxBackoffMs: number
  private backoffMs: number
  private resourceVersion: string | undefined
  private handle: WatchHandle | undefined
  private timer: NodeJS.Timeout | undefined

  constructor (options: ListWatchOptions<T>) {
    this.options = options
    this.minBackoffMs = options.minBackoffMs ?? 1000
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000
    this.backoffMs = this.minBackoffMs
  }

  start (): void { this.spawn(async () => { await this.list() }) }

  stop (): void {
    this.state = 'stopped'
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.handle?.stop()
  }

  private get stopped (): boolean { return this.state === 'stopped' }

  // list() and watch() handle their own failures; this only keeps a bug from becoming an unhandled
  // rejection, and logs and counts it instead of swallowing it.
  private spawn (fn: () => Promise<void>): void {
    fn().catch((err: unknown) => {
      this.options.logger.warn({ what: this.options.what, reason: 'unexpected-error', err }, 'unexpected error in list-watch')
      this.options.onFailure?.('unexpected-error')
    })
  }

  private later (fn: () => void, ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(fn, ms)
  }

  /** The one failure handler: log with the reason, count, forget the version, list again after the backoff. */
  private relistAfterBackoff (reason: ListWatchFailure, err?: Error): void {
    if (this.stopped) return
    const { what, logger } = this.options
    logger.warn({ what, reason, retryInMs: this.backoffMs, err }, `watch of ${what} interrupted (${failureMessages[reason]}); listing again`)
    this.options.onFailure?.(reason)
    this.state = 'backing-off'
    this.resourceVersion = undefined
    const delay = this.backoffMs
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs)
    this.later(() => {
      this.state = 'listing'
      this.spawn(async () => { await this.list() })
    }, delay)
  }

  private async list (): Promise<void> {
    if (this.stopped) return
    try {
      const result = await this.options.list()
      if (this.stopped) return
      this.resourceVersion = result.resourceVersion
      this.synced = true
      this.options.onList(result.items)
      await this.watch()
    } catch (err) {
      this.relistAfterBackoff('list-failed', err as Error)
    }
  }

  private async watch (): Promise<void> {
    if (this.stopped || this.resourceVersion === undefined) return
    this.state = 'watching'
    const startedAt = Date.now()
    let sawEvent = false
    // Jitter, so that replicas do not all reconnect at once.
    const timeoutSeconds = Math.round((this.options.watchTimeoutSeconds ?? 300) * (1 + Math.random() / 2))
    let failure: ListWatchFailure | undefined
    const watchdog = setTimeout(() => {
      failure = 'stale-watch'
      this.handle?.stop()
    }, this.options.staleWatchMs ?? (timeoutSeconds + 30) * 1000)
    // Never what keeps the process alive (the watch connection is, while it is open).
    watchdog.unref()
    const onEvent = (type: WatchEventType, object: any): void => {
      if (this.stopped) return
      if (type === 'ERROR') {
        // 410 Gone: our resourceVersion is older than the server keeps; start over with a list.
        failure = 'resource-version-expired'
        this.handle?.stop()
        return
      }
      sawEvent = this.deliver(type, object) || sawEvent
    }
    const onDone = (err?: Error): void => {
      clearTimeout(watchdog)
      if (this.stopped) return
      this.handle = undefined
      const end: WatchEnd = failure !== undefined
        ? { kind: 'failed', reason: failure }
        : err !== undefined ? { kind: 'failed', reason: 'watch-failed', err } : { kind: 'clean' }
      this.watchEnded(end, startedAt, sawEvent)
    }
    try {
      const query: Record<string, string | number | boolean> = { ...this.options.query, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds }
      this.handle = await this.options.api.watch(this.options.path, query, onEvent, onDone)
      if (this.stopped) this.handle.stop()
    } catch (err) {
      clearTimeout(watchdog)
      this.relistAfterBackoff('watch-failed', err as Error)
    }
  }

  /** Records the event's version and hands it on; true when it was a change (not a bookmark). */
  private deliver (type: Exclude<WatchEventType, 'ERROR'>, object: any): boolean {
    const version = object?.metadata?.resourceVersion
    if (typeof version === 'string' && version !== '') this.resourceVersion = version
    if (type === 'BOOKMARK') return false
    this.options.onEvent(type, object as T)
    return true
  }

  private watchEnded (end: WatchEnd, startedAt: number, sawEvent: boolean): void {
    // A watch that worked for a while (or delivered something) clears the backoff.
    if (sawEvent || Date.now() - startedAt >= healthyWatchMs) this.backoffMs = this.minBackoffMs
    if (end.kind === 'failed') {
      this.relistAfterBackoff(end.reason, end.err)
      return
    }
    // A clean end (server timeout): resume from where we were, without a list. A server that keeps
    // ending watches at once is resumed only after the backoff.
    const quick = Date.now() - startedAt < this.minBackoffMs && !sawEvent
    const delay = quick ? this.backoffMs : 0
    if (quick) this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs)
    this.options.logger.debug({ what: this.options.what, resourceVersion: this.resourceVersion, delay }, 'watch ended; resuming')
    this.later(() => { this.spawn(async () => { await this.watch() }) }, delay)
  }
}
