// The Kubernetes API calls of `sidecar-injector audit`: paginated lists (one page in memory at a
// time), the injector's ConfigMap, PodDisruptionBudgets, and the rollout restart of a workload with
// the patch `kubectl rollout restart` makes. Read-only unless restartWorkload is called.
import * as http from 'node:http'
import * as https from 'node:https'
import type { KubeConfig, V1ConfigMap, V1Namespace, V1Node, V1PodDisruptionBudget, V1Pod } from '@kubernetes/client-node'
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, PatchStrategy, PolicyV1Api, setHeaderOptions } from '@kubernetes/client-node'
import type { ControllerRef } from '../audit/report.js'

export type RestartableKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

/** What `--restart` needs to know of a workload: its pod template's labels, and whether its rollout is done. */
export interface WorkloadState {
  templateLabels: Record<string, string>
  /** The rollout is complete (kubectl rollout status's conditions for the kind). */
  rolledOut: boolean
  /** A one-line account for the report (e.g. "2 of 3 updated"). */
  progress: string
}

export interface AuditApi {
  listNamespaces: () => AsyncIterable<V1Namespace[]>
  /** Pods of one namespace, or of all (namespace undefined), page by page. */
  listPods: (namespace: string | undefined) => AsyncIterable<V1Pod[]>
  /** The controller of every ReplicaSet or Job (null: none); throws a 403 ApiException without permission. */
  listControllers: (kind: 'ReplicaSet' | 'Job', namespace: string | undefined) => AsyncIterable<Array<{ namespace: string, name: string, controller: ControllerRef | null }>>
  listNodes: () => AsyncIterable<V1Node[]>
  readConfigMap: (namespace: string, name: string) => Promise<V1ConfigMap | undefined>
  listPodDisruptionBudgets: (namespace: string) => Promise<V1PodDisruptionBudget[]>
  readWorkload: (kind: RestartableKind, namespace: string, name: string) => Promise<WorkloadState | undefined>
  /** Sets spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] = at (a strategic merge patch). */
  restartWorkload: (kind: RestartableKind, namespace: string, name: string, at: string) => Promise<void>
}

export const auditPageSize = 500
export const restartedAtAnnotation = 'kubectl.kubernetes.io/restartedAt'

interface Page<T> { items: T[], metadata?: { _continue?: string, continue?: string } }

/** An API error as client-node's ApiException carries it (status code and body), for the CLI's one-line message. */
export class ApiStatusError extends Error {
  readonly code: number
  readonly body: string
  constructor (code: number, body: string) {
    super(`HTTP ${code}`)
    this.code = code
    this.body = body
  }
}

/** GET a path of the API server as parsed JSON, authenticated as client-node would (kubeconfig or in-cluster). */
async function getJson<T> (kubeConfig: KubeConfig, path: string, query: Record<string, string>): Promise<T> {
  const server = kubeConfig.getCurrentCluster()?.server
  if (server === undefined) throw new Error('no current cluster in the kubeconfig')
  const url = new URL(server.replace(/\/$/, '') + path)
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } }
  await kubeConfig.applyToHTTPSOptions(options)
  const request = url.protocol === 'http:' ? http.request : https.request
  return await new Promise<T>((resolve, reject) => {
    const req = request(url, options, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('error', (err: Error) => { reject(err) })
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const status = res.statusCode ?? 0
        if (status < 200 || status > 299) {
          reject(new ApiStatusError(status, text))
          return
        }
        try {
          resolve(JSON.parse(text) as T)
        } catch {
          reject(new Error(`the API server sent ${path} as something other than JSON`))
        }
      })
    })
    req.on('error', (err: Error) => { reject(err) })
    req.end()
  })
}

/** limit/continue pages; the API server keeps them one consistent snapshot. */
async function * paginate<T> (list: (cont: string | undefined) => Promise<Page<T>>): AsyncIterable<T[]> {
  let next: string | undefined
  do {
    const page = await list(next)
    yield page.items
    // client-node's typed lists name it _continue; the raw JSON, continue.
    const token = page.metadata?._continue ?? page.metadata?.continue
    next = token === '' ? undefined : token
  } while (next !== undefined)
}

const pageOf = (cont: string | undefined): { limit: number, _continue?: string } =>
  cont === undefined ? { limit: auditPageSize } : { limit: auditPageSize, _continue: cont }

export function createAuditApi (kubeConfig: KubeConfig): AuditApi {
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  const batch = kubeConfig.makeApiClient(BatchV1Api)
  const policy = kubeConfig.makeApiClient(PolicyV1Api)
  const controllerOf = (meta: { ownerReferences?: Array<{ controller?: boolean, kind: string, name: string }> } | undefined): ControllerRef | null => {
    const ref = meta?.ownerReferences?.find(r => r.controller === true)
    return ref === undefined ? null : { kind: ref.kind, name: ref.name }
  }
  return {
    listNamespaces: () => paginate(async cont => await core.listNamespace(pageOf(cont))),
    // Raw JSON, not client-node's typed objects: its deserialiser reorders keys, and the core's output
    // (ISTIO_META_POD_PORTS, ISTIO_KUBE_APP_PROBERS) serialises the pod's own objects in their order, so
    // the audit must see the pod exactly as the webhook did. Also cheaper on large lists.
    listPods: namespace => paginate(async cont => await getJson<Page<V1Pod>>(kubeConfig,
      namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { limit: String(auditPageSize), ...(cont === undefined ? {} : { continue: cont }) })),
    async * listControllers (kind, namespace) {
      const pages = kind === 'ReplicaSet'
        ? paginate(async cont => namespace === undefined ? await apps.listReplicaSetForAllNamespaces(pageOf(cont)) : await apps.listNamespacedReplicaSet({ namespace, ...pageOf(cont) }))
        : paginate(async cont => namespace === undefined ? await batch.listJobForAllNamespaces(pageOf(cont)) : await batch.listNamespacedJob({ namespace, ...pageOf(cont) }))
      for await (const items of pages) {
        yield items.map(item => ({ namespace: item.metadata?.namespace ?? '', name: item.metadata?.name ?? '', controller: controllerOf(item.metadata) }))
      }
    },
    listNodes: () => paginate(async cont => await core.listNode(pageOf(cont))),
    async readConfigMap (namespace, name) {
      try {
        return await core.readNamespacedConfigMap({ namespace, name })
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined
        throw err
      }
    },
    async listPodDisruptionBudgets (namespace) {
      const items: V1PodDisruptionBudget[] = []
      for await (const page of paginate(async cont => await policy.listNamespacedPodDisruptionBudget({ namespace, ...pageOf(cont) }))) items.push(...page)
      return items
    },
    async readWorkload (kind, namespace, name) {
      try {
        return stateOf(kind, await readKind(apps, kind, namespace, name))
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined
        throw err
      }
    },
    async restartWorkload (kind, namespace, name, at) {
      const body = { spec: { template: { metadata: { annotations: { [restartedAtAnnotation]: at } } } } }
      const options = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)
      switch (kind) {
        case 'Deployment': await apps.patchNamespacedDeployment({ namespace, name, body }, options); break
        case 'StatefulSet': await apps.patchNamespacedStatefulSet({ namespace, name, body }, options); break
        case 'DaemonSet': await apps.patchNamespacedDaemonSet({ namespace, name, body }, options); break
      }
    }
  }
}

interface AnyWorkload {
  metadata?: { generation?: number }
  spec?: { replicas?: number, template: { metadata?: { labels?: Record<string, string> } }, updateStrategy?: { rollingUpdate?: { partition?: number } } }
  status?: object
}

async function readKind (apps: AppsV1Api, kind: RestartableKind, namespace: string, name: string): Promise<AnyWorkload> {
  switch (kind) {
    case 'Deployment': return await apps.readNamespacedDeployment({ namespace, name }) as AnyWorkload
    case 'StatefulSet': return await apps.readNamespacedStatefulSet({ namespace, name }) as AnyWorkload
    case 'DaemonSet': return await apps.readNamespacedDaemonSet({ namespace, name }) as AnyWorkload
  }
}

/** kubectl rollout status's rules (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), per kind. */
export function stateOf (kind: RestartableKind, w: AnyWorkload): WorkloadState {
  const templateLabels = w.spec?.template.metadata?.labels ?? {}
  const s = (w.status ?? {}) as Record<string, unknown>
  const num = (key: string): number => typeof s[key] === 'number' ? s[key] : 0
  const observed = (w.metadata?.generation ?? 0) <= num('observedGeneration')
  if (!observed) return { templateLabels, rolledOut: false, progress: 'waiting for the controller to observe the change' }
  switch (kind) {
    case 'Deployment': {
      const want = w.spec?.replicas ?? 1
      const updated = num('updatedReplicas')
      const done = updated >= want && num('replicas') <= updated && num('availableReplicas') >= updated
      return { templateLabels, rolledOut: done, progress: `${updated} of ${want} updated, ${num('availableReplicas')} available` }
    }
    case 'StatefulSet': {
      const want = (w.spec?.replicas ?? 1) - (w.spec?.updateStrategy?.rollingUpdate?.partition ?? 0)
      const updated = num('updatedReplicas')
      const done = updated >= want && num('readyReplicas') >= (w.spec?.replicas ?? 1) && (s.updateRevision === undefined || s.currentRevision === s.updateRevision || want < (w.spec?.replicas ?? 1))
      return { templateLabels, rolledOut: done, progress: `${updated} of ${want} updated, ${num('readyReplicas')} ready` }
    }
    case 'DaemonSet': {
      const want = num('desiredNumberScheduled')
      const done = num('updatedNumberScheduled') >= want && num('numberAvailable') >= want
      return { templateLabels, rolledOut: done, progress: `${num('updatedNumberScheduled')} of ${want} updated, ${num('numberAvailable')} available` }
    }
  }
}
