// The install manifests: reads manifests/ (the same files `kubectl apply -k` installs) and renders
// them for a namespace, an image, a failurePolicy and, for an install with static certificates, a
// caBundle, so that either install is one pipe into `kubectl apply -f -` (`sidecar-injector manifests`).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml'
import { defaultNamespace, defaultTlsSecretName } from '../kube/names.js'

/** A Kubernetes object as plain JSON data. */
export type Manifest = Record<string, any>

export type FailurePolicy = 'Fail' | 'Ignore'

/** Where the shipped manifests are: <package>/manifests, from both src/cli and dist/cli. */
export const shippedManifestsDir = fileURLToPath(new URL('../../manifests/', import.meta.url))

const localConfigAnnotation = 'config.kubernetes.io/local-config'
const settingsName = 'sidecar-injector-webhook-settings'
/** Where a static serving certificate (a `kubernetes.io/tls` Secret) is mounted. */
export const staticTlsDir = '/var/run/secrets/sidecar-injector/tls'
/** The Deployment's flags that only the self-managed TLS uses. */
const selfManagedFlags = ['--self-managed-tls', '--namespace=', '--service-name=', '--webhook-config-name=', '--ca-secret-name=']

export interface LoadedManifests {
  objects: Manifest[]
  /** The failurePolicy chosen in webhook-settings.yaml. */
  failurePolicy: FailurePolicy
  /** The namespace whose pods may reach the metrics port, from webhook-settings.yaml (absent there: as the NetworkPolicy says). */
  monitoringNamespace?: string
}

/** The NetworkPolicy's label for a namespace's name (set by the API server on every namespace). */
const namespaceNameLabel = 'kubernetes.io/metadata.name'
const dns1123Label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export function isNamespaceName (value: unknown): value is string {
  return typeof value === 'string' && dns1123Label.test(value)
}

/** Reads the resources of `<dir>/kustomization.yaml`, in order, dropping local-config objects. */
export async function loadManifests (dir: string = shippedManifestsDir): Promise<LoadedManifests> {
  const kustomization = parseYaml(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as { resources?: unknown }
  if (!Array.isArray(kustomization.resources)) throw new Error(`${dir}/kustomization.yaml lists no resources`)
  const objects: Manifest[] = []
  let failurePolicy: FailurePolicy | undefined
  let monitoringNamespace: string | undefined
  for (const file of kustomization.resources as string[]) {
    const text = await readFile(join(dir, file), 'utf8')
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`)
      const object = doc.toJS() as Manifest | null
      if (object === null) continue
      if (object.kind === 'ConfigMap' && object.metadata?.name === settingsName) {
        failurePolicy = parseFailurePolicy(object.data?.failurePolicy)
        if (failurePolicy === undefined) throw new Error(`${file} data.failurePolicy must be Fail or Ignore, got '${String(object.data?.failurePolicy)}'`)
        const monitoring: unknown = object.data?.monitoringNamespace
        if (monitoring !== undefined && !isNamespaceName(monitoring)) throw new Error(`${file} data.monitoringNamespace must be a namespace name (a DNS-1123 label), got '${String(monitoring)}'`)
        monitoringNamespace = monitoring
      }
      if (object.metadata?.annotations?.[localConfigAnnotation] === 'true') continue
      objects.push(object)
    }
  }
  if (failurePolicy === undefined) throw new Error(`no ConfigMap ${settingsName} with data.failurePolicy in ${dir}`)
  return { objects, failurePolicy, ...(monitoringNamespace === undefined ? {} : { monitoringNamespace }) }
}

export function parseFailurePolicy (value: unknown): FailurePolicy | undefined {
  return value === 'Fail' || value === 'Ignore' ? value : undefined
}

export interface RenderOptions {
  namespace?: string
  image?: string
  failurePolicy: FailurePolicy
  /** PEM CA bundle: renders the static-certificate install (Secret-mounted cert, no self-managed TLS). */
  caBundle?: string
  /** The namespace whose pods may reach the metrics port (the NetworkPolicy rule that names one). */
  monitoringNamespace?: string
}

const clusterScoped = new Set(['Namespace', 'PriorityClass', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'])

/** Returns new objects; the input is left as it was. */
export function renderManifests (input: readonly Manifest[], options: RenderOptions): Manifest[] {
  const objects = structuredClone(input) as Manifest[]
  const from = objects.find(o => o.kind === 'Namespace')?.metadata?.name ?? defaultNamespace
  const to = options.namespace ?? from
  const renamed = (ns: unknown): unknown => ns === from ? to : ns
  const rendered: Manifest[] = []
  for (const object of objects) {
    if (object.kind === 'Namespace') object.metadata.name = to
    if (!clusterScoped.has(object.kind) && object.metadata?.namespace !== undefined) object.metadata.namespace = renamed(object.metadata.namespace)
    if (object.kind === 'ClusterRoleBinding' || object.kind === 'RoleBinding') {
      for (const subject of object.subjects ?? []) subject.namespace = renamed(subject.namespace)
    }
    if (object.kind === 'ConfigMap' && typeof object.data?.['config.yaml'] === 'string') {
      object.data['config.yaml'] = renameIgnoredNamespace(object.data['config.yaml'], from, to)
    }
    if (object.kind === 'MutatingWebhookConfiguration') {
      for (const webhook of object.webhooks ?? []) {
        webhook.failurePolicy = options.failurePolicy
        if (webhook.clientConfig?.service !== undefined) webhook.clientConfig.service.namespace = renamed(webhook.clientConfig.service.namespace)
        for (const expression of webhook.namespaceSelector?.matchExpressions ?? []) {
          if (expression.key === 'kubernetes.io/metadata.name') expression.values = expression.values.map(renamed)
        }
        if (options.caBundle !== undefined) webhook.clientConfig.caBundle = Buffer.from(options.caBundle).toString('base64')
      }
    }
    if (object.kind === 'NetworkPolicy' && options.monitoringNamespace !== undefined) {
      // As kustomize's replacement does: the namespace named in the rule that selects one by name.
      for (const rule of object.spec?.ingress ?? []) {
        for (const peer of rule.from ?? []) {
          const labels = peer.namespaceSelector?.matchLabels
          if (labels?.[namespaceNameLabel] !== undefined) labels[namespaceNameLabel] = options.monitoringNamespace
        }
      }
    }
    if (object.kind === 'Deployment') {
      const [container] = object.spec.template.spec.containers
      if (options.image !== undefined) container.image = options.image
      if (options.caBundle !== undefined) useStaticCertificate(object.spec.template.spec, container)
    }
    // The static install needs no Secret access at all.
    if (options.caBundle !== undefined && (object.kind === 'Role' || object.kind === 'RoleBinding')) continue
    if (options.caBundle !== undefined && object.kind === 'ClusterRole') {
      object.rules = object.rules.filter((rule: Manifest) => !rule.resources.includes('mutatingwebhookconfigurations'))
    }
    rendered.push(object)
  }
  return rendered
}

function useStaticCertificate (podSpec: Manifest, container: Manifest): void {
  container.args = [
    ...(container.args as string[]).filter(arg => !selfManagedFlags.some(flag => arg === flag || (flag.endsWith('=') && arg.startsWith(flag)))),
    `--tls-cert-file=${staticTlsDir}/tls.crt`,
    `--tls-private-key-file=${staticTlsDir}/tls.key`
  ]
  container.volumeMounts = [...(container.volumeMounts ?? []), { name: 'tls', mountPath: staticTlsDir, readOnly: true }]
  // The server re-reads the files when the kubelet updates the Secret volume: no restart to rotate.
  podSpec.volumes = [...(podSpec.volumes ?? []), { name: 'tls', secret: { secretName: defaultTlsSecretName } }]
}

function renameIgnoredNamespace (configYaml: string, from: string, to: string): string {
  if (from === to) return configYaml
  // A line-level edit keeps the operator's comments; only a list item equal to the old name changes.
  return configYaml.replace(new RegExp(`^(\\s*-\\s*)${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm'), `$1${to}`)
}

export function formatManifests (objects: readonly Manifest[], header: string): string {
  return `# ${header}\n` + objects.map(o => stringify(o, { lineWidth: 0 })).join('---\n')
}
