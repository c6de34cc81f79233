// An in-memory AuditApi for the audit command and the audit metric: pods served two per page, so that
// pagination is exercised; rollouts complete after `readsUntilDone` reads once a workload is patched.
import type { V1Namespace, V1PodDisruptionBudget, V1Pod } from '@kubernetes/client-node'
import type { AuditApi, RestartableKind, WorkloadState } from '../../src/kube/audit-api.js'

export interface FakeCluster {
  namespaces: V1Namespace[]
  pods: V1Pod[]
  replicaSets: Array<{ namespace: string, name: string, controller: { kind: string, name: string } | null }>
  pdbs: V1PodDisruptionBudget[]
  workloads: Map<string, WorkloadState>
  patches: string[]
  podPages: number
  configYaml?: string
  /** Rollouts finish after this many reads. */
  readsUntilDone: number
}

export function fakeAuditApi (c: FakeCluster): AuditApi {
  const reads = new Map<string, number>()
  return {
    async * listNamespaces () { yield c.namespaces },
    async * listPods (namespace) {
      const pods = c.pods.filter(p => namespace === undefined || p.metadata?.namespace === namespace)
      for (let i = 0; i < pods.length; i += 2) { c.podPages++; yield pods.slice(i, i + 2) }
    },
    async * listControllers (kind) { yield kind === 'ReplicaSet' ? c.replicaSets : [] },
    async * listNodes () { yield [] },
    readConfigMap: async () => c.configYaml === undefined ? undefined : { data: { 'config.yaml': c.configYaml } },
    listPodDisruptionBudgets: async namespace => c.pdbs.filter(p => p.metadata?.namespace === namespace),
    async readWorkload (kind: RestartableKind, namespace, name) {
      const key = `${kind}/${namespace}/${name}`
      const state = c.workloads.get(key)
      if (state === undefined) return undefined
      const n = (reads.get(key) ?? 0) + 1
      reads.set(key, n)
      const patched = c.patches.some(p => p.startsWith(key))
      return { ...state, rolledOut: !patched || n > c.readsUntilDone }
    },
    async restartWorkload (kind, namespace, name, at) { c.patches.push(`${kind}/${namespace}/${name}@${at}`) }
  }
}

/** A cluster with these namespaces and pods and nothing else. */
export function clusterOf (namespaces: V1Namespace[], pods: V1Pod[]): FakeCluster {
  return { namespaces, pods, replicaSets: [], pdbs: [], workloads: new Map(), patches: [], podPages: 0, readsUntilDone: 0 }
}
