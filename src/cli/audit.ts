// `sidecar-injector audit`: which running pods miss the sidecar, run a stale one, carry another
// injector's, or are at risk — answered by the same core the webhook runs (src/audit/classify.ts) —
// grouped by owning workload; with --restart, rolls the Deployments/StatefulSets/DaemonSets that a
// restart fixes (src/cli/audit-restart.ts). Pods are listed page by page and folded into the report,
// so memory follows the number of workloads with findings, not the number of pods.
import { resolve } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { formatReport } from '../audit/format.js'
import type { AuditFormat } from '../audit/format.js'
import type { AuditReport } from '../audit/report.js'
import { defaultConfig, formatConfigProblems, parseConfig } from '../core/config.js'
import type { InjectorConfig } from '../core/types.js'
import type { AuditApi } from '../kube/audit-api.js'
import { auditCluster } from '../kube/audit-cluster.js'
import type { AuditScope } from '../kube/audit-cluster.js'
import { defaultNamespace } from '../kube/names.js'
import { formatRestart, restartWorkloads } from './audit-restart.js'
import type { RestartOutcome } from './audit-restart.js'
import { describeError as describeCliError } from './errors.js'
import { parseFlags, UsageError } from './io.js'
import type { CliCommand, CliIo } from './io.js'
import { loadConfigFile } from './workload-input.js'

export const defaultConfigMap = `${defaultNamespace}/sidecar-injector-config`

const usage = `usage: sidecar-injector audit [flags]

Finds pods whose sidecar is missing (the webhook would inject them now), stale (today's injection
differs: image, args, resources, env, ...), foreign (another revision or injector) or at risk (a classic
sidecar in a Job, probes the agent cannot answer, ...), grouped by owning workload. Read-only unless
--restart --yes. Exit code: 0 clean, 3 findings, 2 usage error, 1 failure.

flags:
  -n, --namespace NS          audit this namespace (repeatable)
  -A, --all-namespaces        audit every namespace
                              (default: the namespaces the webhook's namespaceSelectors select)
      --config FILE           the injector config (YAML), instead of reading the ConfigMap
      --config-map NS/NAME    the injector's ConfigMap, key config.yaml (default ${defaultConfigMap})
      --kubeconfig PATH       kubeconfig (default: KUBECONFIG, ~/.kube/config, then in-cluster)
  -o, --output FORMAT         table (default), json or yaml
      --restart               roll the Deployments, StatefulSets and DaemonSets of missing/stale pods
                              (kubectl rollout restart's patch), after checking their PodDisruptionBudgets;
                              a dry run unless --yes. Bare pods and Jobs are reported, never deleted.
      --yes                   with --restart: really restart
      --max-concurrent N      with --restart: workloads rolled at once (default 1)
      --timeout SECONDS       with --restart: wait at most this long for each rollout (default 300)
`

const flags = {
  namespace: { type: 'string', short: 'n', multiple: true },
  'all-namespaces': { type: 'boolean', short: 'A' },
  config: { type: 'string' },
  'config-map': { type: 'string' },
  kubeconfig: { type: 'string' },
  output: { type: 'string', short: 'o' },
  restart: { type: 'boolean' },
  yes: { type: 'boolean' },
  'max-concurrent': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

export interface AuditOptions {
  namespaces: AuditScope
  configFile?: string
  configMap: { namespace: string, name: string }
  kubeconfig?: string
  output: AuditFormat
  restart?: { apply: boolean, maxConcurrent: number, timeoutSeconds: number }
}

export function parseAuditArgs (args: readonly string[]): AuditOptions | 'help' {
  const values = parseFlags(args, flags, usage)
  if (values.help === true) return 'help'
  const output = values.output ?? 'table'
  if (output !== 'table' && output !== 'json' && output !== 'yaml') throw new UsageError(`-o must be table, json or yaml, got '${output}'`)
  if (values.namespace !== undefined && values['all-namespaces'] === true) throw new UsageError('--namespace and --all-namespaces exclude each other')
  if (values.config !== undefined && values['config-map'] !== undefined) throw new UsageError('--config and --config-map exclude each other')
  const [cmNamespace, cmName, ...rest] = (values['config-map'] ?? defaultConfigMap).split('/')
  if (cmNamespace === undefined || cmNamespace === '' || cmName === undefined || cmName === '' || rest.length > 0) {
    throw new UsageError('--config-map must be NAMESPACE/NAME')
  }
  if (values.restart !== true && (values.yes === true || values['max-concurrent'] !== undefined || values.timeout !== undefined)) {
    throw new UsageError('--yes, --max-concurrent and --timeout go with --restart')
  }
  const options: AuditOptions = {
    namespaces: values.namespace ?? (values['all-namespaces'] === true ? 'all' : 'selected'),
    configMap: { namespace: cmNamespace, name: cmName },
    output
  }
  if (values.config !== undefined) options.configFile = values.config
  if (values.kubeconfig !== undefined) options.kubeconfig = values.kubeconfig
  if (values.restart === true) {
    options.restart = {
      apply: values.yes === true,
      maxConcurrent: positiveInteger('--max-concurrent', values['max-concurrent'] ?? '1'),
      timeoutSeconds: positiveInteger('--timeout', values.timeout ?? '300')
    }
  }
  return options
}

function positiveInteger (flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag} must be a positive integer, got '${text}'`)
  return Number(text)
}

/** What the command needs from outside; tests pass a fake API and a fixed clock. */
export interface AuditDeps {
  api: (options: AuditOptions, io: CliIo) => Promise<AuditApi>
  now: () => Date
  sleep: (ms: number) => Promise<void>
}

const defaultDeps: AuditDeps = {
  api: async (options, io) => {
    // Loaded on demand: client-node is slow to import and the other commands do not need it.
    const [{ KubeConfig }, { createAuditApi }] = await Promise.all([import('@kubernetes/client-node'), import('../kube/audit-api.js')])
    const kc: KubeConfig = new KubeConfig()
    const path = options.kubeconfig ?? io.env.KUBECONFIG?.split(':').find(p => p !== '')
    if (path !== undefined) kc.loadFromFile(path)
    else kc.loadFromDefault()
    if (kc.getCurrentCluster() === null) throw new Error('no cluster: give --kubeconfig, set KUBECONFIG, or run in a pod')
    return createAuditApi(kc)
  },
  now: () => new Date(),
  sleep: async ms => { await new Promise(resolve => setTimeout(resolve, ms)) }
}

export function createAuditCommand (deps: AuditDeps = defaultDeps): CliCommand {
  return async (args, io) => {
    const options = parseAuditArgs(args)
    if (options === 'help') {
      io.stdout(usage)
      return 0
    }
    try {
      const api = await deps.api(options, io)
      const config = await loadConfig(api, options, io)
      const report = await auditCluster(api, config, options.namespaces, text => { io.stderr(text) })
      let restart: RestartOutcome | undefined
      if (options.restart !== undefined) {
        restart = await restartWorkloads(api, report, { ...options.restart, now: deps.now, sleep: deps.sleep })
      }
      if (options.output === 'table') {
        io.stdout(formatReport(report, 'table'))
        if (restart !== undefined) io.stdout(formatRestart(restart))
      } else {
        const doc = restart === undefined ? report : { ...report, restart }
        io.stdout(formatReport(doc as AuditReport, options.output))
      }
      if (restart?.workloads.some(w => w.action === 'failed' || w.action === 'timed-out') === true) return 1
      return report.podsWithFindings > 0 ? 3 : 0
    } catch (err) {
      if (err instanceof UsageError) throw err // an unreadable --config: exit 2, as inject and explain
      io.stderr(`sidecar-injector audit: ${describeError(err)}\n`)
      return 1
    }
  }
}

export const run: CliCommand = createAuditCommand()

/** One line: the API server's Status message when there is one, never a stack trace (src/cli/errors.ts otherwise). */
export function describeError (err: unknown): string {
  const e = err as { code?: unknown, body?: unknown, message?: unknown }
  if (typeof e.code === 'number' && e.body !== undefined) {
    let body: unknown = e.body
    if (typeof body === 'string') {
      try { body = JSON.parse(body) } catch { /* a plain-text body */ }
    }
    const message = typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : String(body)
    return `the API server answered ${e.code}: ${message}`.split('\n')[0] ?? ''
  }
  return describeCliError(err)
}

async function loadConfig (api: AuditApi, options: AuditOptions, io: CliIo): Promise<InjectorConfig> {
  if (options.configFile !== undefined) return loadConfigFile(resolve(io.cwd, options.configFile))
  const { namespace, name } = options.configMap
  const cm = await api.readConfigMap(namespace, name)
  const text = cm?.data?.['config.yaml']
  if (text === undefined) {
    io.stderr(`note: no ConfigMap ${namespace}/${name} with config.yaml; auditing against the default config\n`)
    return defaultConfig()
  }
  const parsed = parseConfig(text)
  if (!parsed.ok) throw new Error(`invalid config in ConfigMap ${namespace}/${name}: ${formatConfigProblems(parsed.problems).replace(/\n/g, '; ')}`)
  return parsed.config
}
