// The workload a pod belongs to, as istiod derives it (pkg/kube/util.go GetDeployMetaFromPod): a pod
// with generateName and a controller owner reference belongs to that owner, refined by heuristics —
// a ReplicaSet named <deployment>-<pod-template-hash> is a Deployment's, one named
// <rollout>-<rollouts-pod-template-hash> an Argo Rollout's, a ReplicationController with a
// deploymentconfig label an OpenShift DeploymentConfig's, a Job named <cronjob>-<8 to 10 digits> a
// CronJob's. Any other pod is its own workload (kind Pod). Offline, the manifest names the workload.
import { labels } from './annotations.js'
import type { Pod } from './types.js'

/** A workload as its manifest (offline) or its pods' owner chain (webhook) names it. */
export interface WorkloadRef {
  kind: string
  apiVersion: string
  name: string
}

export interface Workload {
  /** The workload's name, or '' when the pod has neither a name nor a controller. */
  name: string
  /** kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name> (ISTIO_META_OWNER), or '' when unknown. */
  owner: string
}

const cronJobName = /^(.+)-\d{8,10}$/

/** The workload of a pod from its own metadata: its controller, refined, or the pod itself. */
export function workloadRefOf (pod: Pod): WorkloadRef {
  const meta = pod.metadata ?? {}
  const ref: WorkloadRef = { kind: 'Pod', apiVersion: 'v1', name: meta.name ?? '' }
  const controller = (meta.ownerReferences ?? []).find(r => r.controller === true)
  if ((meta.generateName ?? '') === '' || controller === undefined) return ref
  const podLabels = meta.labels ?? {}
  const hash = podLabels[labels.podTemplateHash] ?? ''
  const rolloutHash = podLabels[labels.rolloutsPodTemplateHash] ?? ''
  const { kind, apiVersion, name } = controller
  if (kind === 'ReplicaSet' && hash !== '' && name.endsWith(hash)) {
    return { kind: 'Deployment', apiVersion, name: trimSuffix(name, `-${hash}`) }
  }
  if (kind === 'ReplicaSet' && rolloutHash !== '' && name.endsWith(rolloutHash)) {
    // istiod writes "v1alpha1" here, without the argoproj.io group.
    return { kind: 'Rollout', apiVersion: 'v1alpha1', name: trimSuffix(name, `-${rolloutHash}`) }
  }
  const deploymentConfig = podLabels.deploymentconfig ?? ''
  if (kind === 'ReplicationController' && deploymentConfig !== '') {
    return { kind: 'DeploymentConfig', apiVersion, name: deploymentConfig }
  }
  const cron = kind === 'Job' ? cronJobName.exec(name) : null
  if (cron?.[1] !== undefined) return { kind: 'CronJob', apiVersion: 'batch/v1', name: cron[1] }
  return { kind, apiVersion, name }
}

function trimSuffix (text: string, suffix: string): string {
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text
}

export function findWorkload (pod: Pod, namespace: string, declared?: WorkloadRef): Workload {
  const { kind, apiVersion, name } = declared ?? workloadRefOf(pod)
  if (name === '') return { name: '', owner: '' }
  const owner = apiVersion === ''
    ? ''
    : `kubernetes://apis/${apiVersion}/namespaces/${namespace === '' ? 'default' : namespace}/${kind.toLowerCase()}s/${name}`
  return { name, owner }
}
