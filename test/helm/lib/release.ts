// A chart release on the local control plane, with the injector run the way its Deployment says but
// as a process on 127.0.0.1 (no kubelet here): the Deployment's own args, the ConfigMap's config and
// the Secret's certificate written to files as the kubelet would mount them, and the credentials of
// the chart's ServiceAccount (so the chart's RBAC is what the injector gets).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node'
import type { Cluster } from '../../e2e/lib/cluster.js'
import { isApiError } from '../../e2e/lib/cluster.js'
import type { ManagedProcess } from '../../e2e/lib/processes.js'
import { startProcess } from '../../e2e/lib/processes.js'
import { cliPath } from '../../e2e/lib/repo.js'
import type { K8sObject } from './chart.js'
import { helm, parseObjects } from './chart.js'

const configMount = '/etc/sidecar-injector'
const tlsMount = '/var/run/secrets/sidecar-injector/tls'

export function helmIn (cluster: Cluster): (args: readonly string[]) => Promise<string> {
  return async args => await helm(['--kubeconfig', cluster.kubeconfigPath, ...args])
}

/** The objects of the release, as Helm recorded them (`helm get manifest`). */
export async function releaseObjects (cluster: Cluster, release: string, namespace: string): Promise<K8sObject[]> {
  return parseObjects(await helmIn(cluster)(['get', 'manifest', release, '--namespace', namespace]))
}

/** Those of the objects that still exist on the API server. */
export async function existing (cluster: Cluster, objects: readonly K8sObject[]): Promise<string[]> {
  const api = KubernetesObjectApi.makeApiClient(cluster.kc)
  const found: string[] = []
  for (const o of objects) {
    try {
      const metadata: { name: string, namespace?: string } = { name: o.metadata.name }
      if (o.metadata.namespace !== undefined) metadata.namespace = o.metadata.namespace
      await api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata })
      found.push(`${String(o.kind)}/${String(o.metadata.name)}`)
    } catch (err) {
      if (!isApiError(err, 404)) throw err
    }
  }
  return found
}

/** A kubeconfig holding only a token of the ServiceAccount. */
export async function serviceAccountKubeconfig (cluster: Cluster, namespace: string, name: string, path: string): Promise<string> {
  const token = await cluster.core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } })
  const server = cluster.kc.getCurrentCluster()
  if (server === null || token.status?.token === undefined) throw new Error('no cluster or no token')
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [server],
    users: [{ name, token: token.status.token }],
    contexts: [{ name, cluster: server.name, user: name }],
    currentContext: name
  })
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 })
  return path
}

/** What the kubelet would mount: the ConfigMap's config.yaml into <dir>/config. */
export async function mountConfig (cluster: Cluster, deployment: K8sObject, dir: string): Promise<void> {
  const namespace = deployment.metadata.namespace as string
  const volume = deployment.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'config')
  const configMap = await cluster.core.readNamespacedConfigMap({ name: volume.configMap.name, namespace })
  mkdirSync(join(dir, 'config'), { recursive: true })
  // Written next to, then renamed over (as the kubelet swaps its ..data link), so the watcher never sees half a file.
  writeFileSync(join(dir, 'config', 'config.yaml.new'), configMap.data?.['config.yaml'] ?? '')
  renameSync(join(dir, 'config', 'config.yaml.new'), join(dir, 'config', 'config.yaml'))
}

/** What the kubelet would mount: the serving certificate Secret's files into <dir>/tls. */
export async function mountTlsSecret (cluster: Cluster, deployment: K8sObject, dir: string): Promise<string> {
  const namespace = deployment.metadata.namespace as string
  const volume = deployment.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'tls')
  if (volume === undefined) throw new Error('the Deployment mounts no tls Secret')
  const secret = await cluster.core.readNamespacedSecret({ name: volume.secret.secretName, namespace })
  mkdirSync(join(dir, 'tls'), { recursive: true })
  for (const [key, value] of Object.entries(secret.data ?? {})) writeFileSync(join(dir, 'tls', key), Buffer.from(value, 'base64'))
  return Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString()
}

/**
 * `sidecar-injector serve` with the Deployment's args, on 127.0.0.1:<port> (and the metrics listener on
 * 127.0.0.1:<metricsPort>: the chart's port may be taken on a shared machine), mounts mapped to <dir>.
 * Self-managed TLS also gets --extra-sans 127.0.0.1: in the cluster the API server calls the
 * Service's name, here the URL of webhook.url.
 */
export function serveAsDeployed (deployment: K8sObject, options: { port: number, metricsPort: number, dir: string, kubeconfig: string }): ManagedProcess {
  const container = deployment.spec.template.spec.containers[0]
  const namespace = deployment.metadata.namespace as string
  const args = (container.args as string[]).map(arg => arg
    .replace(/^--port=\d+$/, `--port=${options.port}`)
    .replace(/^--metrics-port=\d+$/, `--metrics-port=${options.metricsPort}`)
    .replace('$(POD_NAMESPACE)', namespace)
    .replace(configMount, join(options.dir, 'config'))
    .replace(tlsMount, join(options.dir, 'tls')))
  if (args.includes('--self-managed-tls')) args.push('--extra-sans=127.0.0.1')
  args.push('--host=127.0.0.1', '--drain-seconds=1')
  return startProcess('sidecar-injector serve (as deployed)', process.execPath, [cliPath, ...args], join(options.dir, 'serve.log'),
    { ...process.env, KUBECONFIG: options.kubeconfig, POD_NAMESPACE: namespace })
}
