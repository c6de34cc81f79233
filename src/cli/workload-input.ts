// What `inject`, `explain` and `uninject` share: their flags, reading files, directories and stdin,
// and loading the config file. The transformation itself is the pure src/workloads/.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { defaultConfig, formatConfigProblems, parseConfig } from '../core/config.js'
import type { ManifestOptions, Source } from '../workloads/templates.js'
import type { InjectorConfig } from '../core/types.js'
import { parseFlags, UsageError } from './io.js'
import type { CliIo } from './io.js'

export const manifestFlags = {
  filename: { type: 'string', short: 'f', multiple: true },
  config: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'namespace-labels': { type: 'string' },
  native: { type: 'boolean' },
  classic: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' }
} as const

export interface ManifestRequest {
  sources: Source[]
  options: ManifestOptions
  /** The -o value as given (explain also takes `text`). */
  format: string
}

export interface RequestShape {
  /** The -o values the command takes; the first is the default. */
  outputs?: readonly string[]
  /** uninject reads only the status annotation: flags that shape an injection mean nothing to it. */
  injectionFlags?: boolean
}

const injectionOnly = ['config', 'namespace', 'namespace-labels', 'native', 'classic'] as const

/** Parses the flags and reads every input; throws UsageError for bad flags and unreadable input. */
export async function readManifestRequest (args: readonly string[], io: CliIo, usage: string, shape: RequestShape = {}): Promise<ManifestRequest | undefined> {
  const values = parseFlags(args, manifestFlags, usage)
  if (values.help === true) {
    io.stdout(usage)
    return undefined
  }
  const files = values.filename ?? []
  if (files.length === 0) throw new UsageError(`-f <file|directory|-> is required\n\n${usage}`)
  if (values.native === true && values.classic === true) throw new UsageError('--native and --classic exclude each other')
  if (shape.injectionFlags === false) {
    const given = injectionOnly.filter(flag => values[flag] !== undefined)
    if (given.length > 0) throw new UsageError(`${given.map(f => `--${f}`).join(', ')}: not used by this command, which undoes what the status annotation records`)
  }
  const outputs = shape.outputs ?? ['yaml', 'json']
  const format = values.output ?? outputs[0] ?? 'yaml'
  if (!outputs.includes(format)) throw new UsageError(`-o must be ${outputs.join(', ')}; got '${format}'`)
  const output = format === 'json' ? 'json' : 'yaml'

  const config = values.config === undefined ? defaultConfig() : loadConfigFile(resolve(io.cwd, values.config))
  if (values.native === true) config.nativeSidecars = 'true'
  if (values.classic === true) config.nativeSidecars = 'false'
  const options: ManifestOptions = { config, facts: {}, namespace: values.namespace ?? 'default', output }
  if (values['namespace-labels'] !== undefined) {
    const labels = parseLabelList(values['namespace-labels'])
    if (typeof labels === 'string') throw new UsageError(`--namespace-labels: ${labels}`)
    options.namespaceLabels = labels
  }
  const sources: Source[] = []
  for (const file of files) sources.push(...await readSources(file, io))
  return { sources, options, format }
}

export function loadConfigFile (path: string): InjectorConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read the config file ${path}: ${(err as Error).message}`)
  }
  const result = parseConfig(text)
  if (!result.ok) throw new UsageError(`invalid config ${path}: ${formatConfigProblems(result.problems)}`)
  return result.config
}

const manifestFile = /\.(ya?ml|json)$/

/** A file, every manifest in a directory (recursively, in name order), or stdin for "-". */
async function readSources (file: string, io: CliIo): Promise<Source[]> {
  if (file === '-') return [{ name: '<stdin>', text: await readStream(io.stdin) }]
  const path = resolve(io.cwd, file)
  try {
    // Synchronous reads: one after the other is what a CLI does anyway, and node:fs/promises costs
    // ~1 ms more to load at each start (bench/cli.ts, start-up).
    if (statSync(path).isDirectory()) {
      const entries = readdirSync(path, { recursive: true, encoding: 'utf8' }).filter(e => manifestFile.test(e)).sort()
      return entries.map(e => ({ name: join(file, e), text: readFileSync(join(path, e), 'utf8') }))
    }
    return [{ name: file, text: readFileSync(path, 'utf8') }]
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`)
  }
}

async function readStream (stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
  return Buffer.concat(chunks).toString('utf8')
}

const fileHelp = `flags:
  -f, --filename <file|dir|->   manifests to read (repeatable; '-' is stdin; directories are read recursively)
`
const injectionHelp = `      --config <file>           injector config (YAML); the defaults otherwise
  -n, --namespace <ns>          namespace of documents that name none (default "default")
      --namespace-labels k=v,…  labels of the target namespace: apply the webhook's selectors as the cluster would
                                (otherwise an enabled namespace is assumed)
      --native | --classic      force native sidecars (init container, restartPolicy Always) or classic ones
`

export function usageOf (command: string, summary: string, outputs: readonly string[] = ['yaml', 'json'], injectionFlags = true): string {
  const output = `  -o, --output ${outputs.join('|').padEnd(16)} output format (default ${outputs[0] ?? 'yaml'})\n`
  return `usage: sidecar-injector ${command} -f <file|dir|-> [flags]\n\n${summary}\n\n${fileHelp}${injectionFlags ? injectionHelp : ''}${output}`
}

/** Parses `k=v,k2=v2` (the --namespace-labels flag). */
export function parseLabelList (text: string): Record<string, string> | string {
  const out: Record<string, string> = {}
  if (text.trim() === '') return out
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) return `'${pair}' is not key=value`
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
  }
  return out
}
