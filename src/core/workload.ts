// The workload a pod belongs to, guessed from its controller owner reference the way istiod does
// (pkg/kube/util.go GetDeployMetaFromPod): pods of a Deployment come from a ReplicaSet named
// <deployment>-<pod-template-hash>, pods of a CronJob from a Job named <cronjob>-<8 to 10 digits>.
import { labels } from './annotations.js'
import type { Pod } from './types.js'

export interface Workload {
  /** The workload's name, or '' when the pod has neither a name nor a controller. */
  name: string
  /** kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name>, or '' when unknown. */
  owner: string
}

export function findWorkload (pod: Pod, namespace: string): Workload {
  const meta = pod.metadata ?? {}
  let name = meta.name ?? ''
  let kind = 'Pod'
  let apiVersion = 'v1'
  const controller = (meta.ownerReferences ?? []).find(ref => ref.controller === true)
  if (meta.generateName !== undefined && controller !== undefined) {
    ({ name, kind, apiVersion } = controller)
    const hash = meta.labels?.[labels.podTemplateHash]
    if (kind === 'ReplicaSet' && hash !== undefined && name.endsWith(`-${hash}`)) {
      name = name.slice(0, -(hash.length + 1))
      kind = 'Deployment'
      apiVersion = 'apps/v1'
    } else if (kind === 'Job') {
      const cron = /^(.+)-\d{8,10}$/.exec(name)
      if (cron?.[1] !== undefined) {
        name = cron[1]
        kind = 'CronJob'
        apiVersion = 'batch/v1'
      }
    }
  }
  if (name === '') return { name: '', owner: '' }
  const owner = kind === 'Pod'
    ? ''
    : `kubernetes://apis/${apiVersion}/namespaces/${namespace === '' ? 'default' : namespace}/${kind.toLowerCase()}s/${name}`
  return { name, owner }
}
