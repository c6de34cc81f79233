// The cluster an e2e test talks to: the one in $KUBECONFIG when set (kind, a real cluster, or the
// local control plane that `make e2e` starts once for all files), otherwise a local control plane
// started for this test file alone.
import { randomBytes } from 'node:crypto'
import { AdmissionregistrationV1Api, ApiException, AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import type { V1Namespace } from '@kubernetes/client-node'
import type { ControlPlane } from './control-plane.js'
import { findBinaries, startControlPlane } from './control-plane.js'

export interface Cluster {
  readonly kubeconfigPath: string
  readonly kc: KubeConfig
  readonly core: CoreV1Api
  readonly apps: AppsV1Api
  readonly admission: AdmissionregistrationV1Api
  /** kubectl of the control plane's minor when built by `make control-plane`, else the one on PATH. */
  readonly kubectl: string
  /** The control plane this process started, if any (undefined when $KUBECONFIG was given). */
  readonly controlPlane: ControlPlane | undefined
  /** A short random id: namespaces and webhook configurations created by this process carry it. */
  readonly runId: string
}

/** The label that ties a test namespace to the MutatingWebhookConfiguration of the process that made it. */
export const runLabel = 'e2e.sidecar-injector.io/run'

/** Teardown registration, as tap's `t.teardown` (kept structural so the demo can pass its own). */
export type Teardown = (fn: () => Promise<void> | void) => void

export function clientsFor (kubeconfigPath: string): Pick<Cluster, 'kc' | 'core' | 'apps' | 'admission'> {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), admission: kc.makeApiClient(AdmissionregistrationV1Api) }
}

export async function connectCluster (options: { teardown: Teardown, failed?: () => boolean, log?: (line: string) => void }): Promise<Cluster> {
  const runId = randomBytes(3).toString('hex')
  const given = process.env.KUBECONFIG?.split(':').find(path => path !== '')
  let controlPlane: ControlPlane | undefined
  let kubeconfigPath: string
  let kubectl: string
  if (given !== undefined) {
    kubeconfigPath = given
    kubectl = process.env.TEST_ASSET_KUBECTL ?? tryFindKubectl()
  } else {
    controlPlane = await startControlPlane(options.log === undefined ? {} : { log: options.log })
    const started = controlPlane
    options.teardown(async () => { await started.stop({ keepLogs: options.failed?.() ?? false }) })
    kubeconfigPath = controlPlane.kubeconfigPath
    kubectl = controlPlane.binaries.kubectl
  }
  return { kubeconfigPath, kubectl, controlPlane, runId, ...clientsFor(kubeconfigPath) }
}

function tryFindKubectl (): string {
  try {
    return findBinaries().kubectl
  } catch {
    return 'kubectl'
  }
}

export function isApiError (err: unknown, code?: number): err is ApiException<unknown> {
  return err instanceof ApiException && (code === undefined || err.code === code)
}

/** The message the API server returned (a Status object's `message`), for assertions on what a user sees. */
export function apiErrorMessage (err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body
    if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message
    return String(err.body)
  }
  return err instanceof Error ? err.message : String(err)
}

function safeJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * A fresh namespace with its `default` ServiceAccount. Without kube-controller-manager nobody makes
 * that ServiceAccount, and the ServiceAccount admission plugin rejects every pod without it; on a
 * real cluster the controller may win the race, hence the tolerated 409.
 */
export async function createNamespace (cluster: Cluster, prefix: string, labels: Record<string, string>,
  teardown: Teardown): Promise<string> {
  const body: V1Namespace = { metadata: { generateName: `e2e-${prefix}-`, labels: { ...labels, [runLabel]: cluster.runId } } }
  const created = await cluster.core.createNamespace({ body })
  const name = created.metadata?.name
  if (name === undefined) throw new Error('the API server returned a namespace without a name')
  teardown(async () => {
    // On the local control plane the namespace stays Terminating (no namespace controller); its
    // objects go with the control plane's etcd. On a real cluster this cleans everything up.
    await cluster.core.deleteNamespace({ name }).catch(() => {})
  })
  await ensureDefaultServiceAccount(cluster, name)
  return name
}

export async function ensureDefaultServiceAccount (cluster: Cluster, namespace: string): Promise<void> {
  try {
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } })
  } catch (err) {
    if (!isApiError(err, 409)) throw err
  }
}
