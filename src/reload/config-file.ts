// The injector config as a file that may change while the webhook runs: read once at start (a bad
// file stops the start), then re-read when it changes. A new config that does not validate is refused
// and the previous one keeps serving; every outcome is logged and counted.
import { readFile } from 'node:fs/promises'
import { defaultConfig, formatConfigProblems, parseConfig } from '../core/config.js'
import type { InjectorConfig } from '../core/types.js'
import { watchFiles } from './file-watcher.js'
import type { FileWatcherOptions } from './file-watcher.js'

/** The config file could not be read at start; `cause` is the file-system error. */
export class ConfigReadError extends Error {
  override name = 'ConfigReadError'
}

export interface ReloadLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string, ...args: unknown[]) => void
}

export interface LiveConfig {
  current: () => InjectorConfig
  /** Re-reads the file now (the watcher does this on change); never rejects. */
  reload: () => Promise<void>
  /** Reloads whenever the file may have changed; returns a function that stops watching. */
  watch: (options?: FileWatcherOptions) => () => void
}

export interface LiveConfigOptions {
  logger: ReloadLogger
  /** Counts each reload that changed the text: applied, or refused. */
  count: (result: 'success' | 'failure') => void
}

/** The defaults when there is no file; else the file's config, or a thrown error naming the problem. */
export async function loadLiveConfig (file: string | undefined, options: LiveConfigOptions): Promise<LiveConfig> {
  if (file === undefined) {
    const config = defaultConfig()
    return { current: () => config, reload: async () => {}, watch: () => () => {} }
  }
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigReadError('cannot read the config file', { cause: err })
  }
  const parsed = parseConfig(text)
  if (!parsed.ok) throw new Error(`invalid config ${file}:\n${formatConfigProblems(parsed.problems)}`)
  let config = parsed.config
  const { logger, count } = options

  async function reload (): Promise<void> {
    let next: string
    try {
      next = await readFile(file as string, 'utf8')
    } catch (err) {
      logger.warn({ err, file }, 'cannot read the config file; keeping the current config')
      return
    }
    if (next === text) return
    text = next
    const result = parseConfig(next)
    if (!result.ok) {
      count('failure')
      logger.error({ file, problems: result.problems },
        'refused the new config, the previous one keeps serving:\n%s', formatConfigProblems(result.problems))
      return
    }
    config = result.config
    count('success')
    logger.info({ file }, 'config reloaded')
  }

  return {
    current: () => config,
    reload,
    watch (watchOptions = {}) {
      const onChange = (): void => {
        reload().catch((err: unknown) => {
          count('failure')
          logger.error({ err, file }, 'config reload failed unexpectedly; the previous config keeps serving')
        })
      }
      const watcher = watchFiles([file as string], onChange, {
        ...watchOptions,
        onError: err => { logger.warn({ err }, 'cannot watch the config file directory') }
      })
      return () => { watcher.close() }
    }
  }
}
