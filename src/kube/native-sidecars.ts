// Native-sidecar detection for `nativeSidecars: auto`, as Istio does it: a pod gets the proxy as a
// native sidecar (an init container with restartPolicy Always) when the kubelet of its node runs
// >= 1.33, or, when the pod has no node yet, when every node's kubelet does. Fed by a watch on Nodes;
// until the first list arrives the answer is "unknown" (classic mode), and readiness never waits for it.
import type { V1Node } from '@kubernetes/client-node'
import type { KubeApi } from './api.js'
import { nodesPath } from './api.js'
import type { ListWatchFailure, ListWatchLogger } from './list-watch.js'
import { startListWatch } from './list-watch.js'
import type { ClusterFacts, Pod } from '../core/types.js'

/** Native sidecars are on by default (SidecarContainers beta) from 1.29, GA in 1.33; Istio's auto mode requires 1.33. */
export const nativeSidecarMinimum = { major: 1, minor: 33 }

/** Whether a kubelet version string (v1.33.1, v1.34.0+k3s1, v1.33.5-eks-113cf36) is >= 1.33; undefined if unparsable. */
export function supportsNativeSidecars (kubeletVersion: string | undefined): boolean | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(kubeletVersion ?? '')
  if (match === null) return undefined
  const major = Number(match[1])
  const minor = Number(match[2])
  return major > nativeSidecarMinimum.major || (major === nativeSidecarMinimum.major && minor >= nativeSidecarMinimum.minor)
}

export interface NativeSidecarDetector {
  /** The facts for one pod: its node's kubelet when spec.nodeName is known, otherwise all nodes'. */
  facts: (pod: Pod) => ClusterFacts
  synced: () => boolean
  stop: () => void
}

export interface NativeSidecarDetectorOptions {
  api: Pick<KubeApi, 'listNodes' | 'watch'>
  logger: ListWatchLogger
  /** Counts each failure of the Node watch by reason. */
  onFailure?: (reason: ListWatchFailure) => void
  minBackoffMs?: number
  maxBackoffMs?: number
}

export function startNativeSidecarDetector (options: NativeSidecarDetectorOptions): NativeSidecarDetector {
  // Only a boolean per node is kept (not the Node objects): memory stays small on large clusters.
  const nodes = new Map<string, boolean>()
  let unsupported = 0

  const set = (node: V1Node): void => {
    const name = node.metadata?.name
    if (name === undefined) return
    remove(name)
    // An unparsable version counts as unsupported: classic mode is the safe answer.
    const supported = supportsNativeSidecars(node.status?.nodeInfo?.kubeletVersion) === true
    nodes.set(name, supported)
    if (!supported) unsupported++
  }
  const remove = (name: string): void => {
    const previous = nodes.get(name)
    if (previous === false) unsupported--
    nodes.delete(name)
  }

  const listWatch = startListWatch<V1Node>({
    api: options.api,
    what: 'Nodes',
    path: nodesPath,
    list: async () => await options.api.listNodes(),
    onList: items => {
      nodes.clear()
      unsupported = 0
      for (const node of items) set(node)
    },
    onEvent: (type, node) => {
      if (type === 'DELETED') {
        if (node.metadata?.name !== undefined) remove(node.metadata.name)
      } else {
        set(node)
      }
    },
    logger: options.logger,
    ...(options.onFailure === undefined ? {} : { onFailure: options.onFailure }),
    ...(options.minBackoffMs === undefined ? {} : { minBackoffMs: options.minBackoffMs }),
    ...(options.maxBackoffMs === undefined ? {} : { maxBackoffMs: options.maxBackoffMs })
  })

  return {
    facts (pod) {
      if (!listWatch.synced()) return {}
      const nodeName = pod.spec?.nodeName
      const own = nodeName === undefined || nodeName === '' ? undefined : nodes.get(nodeName)
      if (own !== undefined) return { nativeSidecarsSupported: own }
      if (nodes.size === 0) return {}
      return { nativeSidecarsSupported: unsupported === 0 }
    },
    synced: () => listWatch.synced(),
    stop: () => { listWatch.stop() }
  }
}
