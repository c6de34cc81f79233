// What the chart tests (make helm-test) share: the helm binary built by scripts/build-helm.sh, the
// chart rendered by `helm template`, manifests/ rendered by kustomize (built into kubectl), and
// cert-manager (binaries from scripts/build-cert-manager.sh, CRDs from its Go module).
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { parseConfig } from '../../../src/core/config.js'
import { repoRoot } from '../../e2e/lib/repo.js'

const run = promisify(execFile)

/** A Kubernetes object as plain data. */
export type K8sObject = Record<string, any>

export const chartDir = join(repoRoot, 'charts', 'sidecar-injector')
export const manifestsDir = join(repoRoot, 'manifests')
export const certManagerComponentDir = join(manifestsDir, 'components', 'cert-manager')
export const serviceMonitorComponentDir = join(manifestsDir, 'components', 'service-monitor')

function fromScript (script: string, ...args: string[]): string {
  try {
    return execFileSync(join(repoRoot, 'scripts', script), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  } catch (err) {
    throw new Error(`scripts/${script} ${args.join(' ')} failed (make helm-test builds what it needs): ${(err as { stderr?: string }).stderr ?? String(err)}`)
  }
}

/** helm, built once by `scripts/build-helm.sh` (or HELM_BIN). */
export function helmBinary (): string {
  return join(fromScript('build-helm.sh', '--print'), 'helm')
}

export function certManagerBinaries (): { controller: string, cainjector: string } {
  const dir = fromScript('build-cert-manager.sh', '--print')
  return { controller: join(dir, 'cert-manager-controller'), cainjector: join(dir, 'cert-manager-cainjector') }
}

/** cert-manager's CRDs, read from its module in the Go module cache (never copied into this repo). */
export function certManagerCrdsDir (): string {
  return fromScript('build-cert-manager.sh', '--crds')
}

export async function helm (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  // Helm keeps its state under HELM_* dirs; a scratch home keeps the user's repositories and cache out.
  const home = mkdtempSync(join(tmpdir(), 'helm-home-'))
  try {
    const { stdout } = await run(helmBinary(), args, {
      maxBuffer: 16 << 20,
      env: { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data'), ...env }
    })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new Error(`helm ${args.join(' ')}: ${e.stderr ?? e.message}`)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

export function parseObjects (yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText).map(d => {
    if (d.errors.length > 0) throw new Error(d.errors[0]?.message ?? 'invalid YAML')
    return d.toJS() as K8sObject | null
  }).filter((o): o is K8sObject => o !== null && typeof o === 'object')
}

export interface TemplateOptions {
  namespace?: string
  set?: Record<string, string>
  setFile?: Record<string, string>
}

export function templateArgs ({ namespace = 'sidecar-injector', set = {}, setFile = {} }: TemplateOptions): string[] {
  return [
    '--namespace', namespace,
    ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ...Object.entries(setFile).flatMap(([k, v]) => ['--set-file', `${k}=${v}`])
  ]
}

/** `helm template` of the chart. */
export async function template (options: TemplateOptions = {}): Promise<K8sObject[]> {
  return parseObjects(await helm(['template', 'sidecar-injector', chartDir, ...templateArgs(options)]))
}

/** `kubectl kustomize` of manifests/, optionally with components (through a scratch kustomization). */
export async function kustomize (kubectl: string, components: readonly string[] = []): Promise<K8sObject[]> {
  if (components.length === 0) return parseObjects((await run(kubectl, ['kustomize', manifestsDir], { maxBuffer: 16 << 20 })).stdout)
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-'))
  try {
    // kustomize wants relative paths, and refuses a base that contains its overlay: hence a scratch dir.
    const rel = (path: string): string => relative(dir, path)
    writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${rel(manifestsDir)}]\ncomponents: [${components.map(rel).join(', ')}]\n`)
    return parseObjects((await run(kubectl, ['kustomize', dir], { maxBuffer: 16 << 20 })).stdout)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function objectKey (o: K8sObject): string {
  return `${String(o.kind)}/${o.metadata?.namespace === undefined ? '' : `${String(o.metadata.namespace)}/`}${String(o.metadata?.name)}`
}

/**
 * Objects keyed by kind/namespace/name, for comparison. The injector config is compared as the
 * injector reads it (parsed, defaults applied), since the two renderings write it differently.
 */
export function byKey (objects: readonly K8sObject[]): Record<string, K8sObject> {
  const out: Record<string, K8sObject> = {}
  for (const o of objects) {
    const copy = structuredClone(o)
    const text = copy.kind === 'ConfigMap' ? copy.data?.['config.yaml'] : undefined
    if (typeof text === 'string') {
      const parsed = parseConfig(text)
      if (!parsed.ok) throw new Error(`${objectKey(o)}: config.yaml does not parse: ${JSON.stringify(parsed.problems)}`)
      copy.data['config.yaml'] = parsed.config
    }
    const key = objectKey(o)
    if (key in out) throw new Error(`${key} is rendered twice`)
    out[key] = copy
  }
  return out
}
