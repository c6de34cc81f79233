// What the audit e2e cases need: the CLI run as a user runs it (a child process, with its exit code,
// output and peak memory), and workloads made the way their controllers would make them — this
// control plane runs no kube-controller-manager, so Deployments get their ReplicaSet and pods from
// here, and a rollout is "completed" by writing the status its controller would write.
import { spawn } from 'node:child_process'
import type { V1Deployment, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'
import { PolicyV1Api } from '@kubernetes/client-node'
import type { Cluster } from './cluster.js'
import { appPod } from './pods.js'
import { cliPath } from './repo.js'

export interface AuditRun { code: number, stdout: string, stderr: string, maxRssKiB: number, seconds: number }

// Loaded with --import into the child: reports its own peak RSS as its last stderr line. VmHWM, not
// getrusage's maxRSS: the latter survives fork and exec, so a child of a large process (tap) would
// report its parent's size (measured: the same 355 MiB for every child).
const rssHook = 'data:text/javascript,' + encodeURIComponent(
  "import { readFileSync, writeSync } from 'node:fs'; process.on('exit', () => { " +
  "const kb = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'; writeSync(2, '#maxrss ' + kb + '\\n') })")

/** Runs `sidecar-injector audit <args> --kubeconfig <cluster's>` from dist/. */
export async function runAudit (cluster: Cluster, args: readonly string[], options: { script?: string, kubeconfig?: string, nodeOptions?: string[] } = {}): Promise<AuditRun> {
  const began = process.hrtime.bigint()
  const command = options.script === undefined ? [cliPath, 'audit'] : [options.script]
  // Through `env -u NODE_OPTIONS`: tap's process-info hook adds its loader to NODE_OPTIONS of every
  // node child it sees spawned (heap at start 173 MB instead of 40 MB, measured); the CLI must run as
  // a user runs it, or its memory figures and the capped-heap check mean nothing.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, ...options.nodeOptions ?? [], '--import', rssHook, ...command, ...args,
    '--kubeconfig', options.kubeconfig ?? cluster.kubeconfigPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number>(resolve => child.once('close', c => { resolve(c ?? 128) }))
  const seconds = Number(process.hrtime.bigint() - began) / 1e9
  const match = /#maxrss (\d+)\n$/.exec(stderr)
  return { code, stdout, stderr: stderr.replace(/#maxrss \d+\n$/, ''), maxRssKiB: Number(match?.[1] ?? 0), seconds }
}

/**
 * A Deployment with its ReplicaSet and `replicas` pods, owned as the controllers own them (the pods'
 * pod-template-hash label and generateName), created through the API server — so through the webhook
 * when it is registered and up.
 */
export async function createDeployment (cluster: Cluster, namespace: string, name: string, replicas: number,
  podLabels: Record<string, string> = {}): Promise<{ deployment: V1Deployment, pods: V1Pod[] }> {
  const labels = { app: name, ...podLabels }
  const spec = appPod(name, { labels }).spec ?? { containers: [] }
  const deployment = await cluster.apps.createNamespacedDeployment({
    namespace,
    body: { metadata: { name }, spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels }, spec } } }
  })
  const hash = '5d8f7c9b6'
  const rs = await cluster.apps.createNamespacedReplicaSet({
    namespace,
    body: {
      metadata: {
        name: `${name}-${hash}`,
        labels: { ...labels, 'pod-template-hash': hash },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: deployment.metadata?.uid ?? '', controller: true }]
      },
      spec: { replicas, selector: { matchLabels: { app: name, 'pod-template-hash': hash } }, template: { metadata: { labels: { ...labels, 'pod-template-hash': hash } }, spec } }
    }
  })
  const pods: V1Pod[] = []
  for (let i = 0; i < replicas; i++) {
    const pod = appPod(`${name}-${hash}`, { labels: { ...labels, 'pod-template-hash': hash }, generateName: true })
    pod.metadata = { ...pod.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata?.name ?? '', uid: rs.metadata?.uid ?? '', controller: true }] }
    pods.push(await cluster.core.createNamespacedPod({ namespace, body: pod }))
  }
  await completeRollout(cluster, namespace, name)
  return { deployment, pods }
}

/** Writes the status the deployment controller writes when every replica is updated and available. */
export async function completeRollout (cluster: Cluster, namespace: string, name: string): Promise<void> {
  const current = await cluster.apps.readNamespacedDeployment({ namespace, name })
  const replicas = current.spec?.replicas ?? 1
  await cluster.apps.replaceNamespacedDeploymentStatus({
    namespace,
    name,
    body: {
      ...current,
      status: { observedGeneration: current.metadata?.generation ?? 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas }
    }
  })
}

/** A PodDisruptionBudget with the status the disruption controller would compute for healthy pods. */
export async function createBudget (cluster: Cluster, namespace: string, name: string, matchLabels: Record<string, string>,
  minAvailable: number, healthy: number): Promise<V1PodDisruptionBudget> {
  const policy = cluster.kc.makeApiClient(PolicyV1Api)
  const created = await policy.createNamespacedPodDisruptionBudget({ namespace, body: { metadata: { name }, spec: { minAvailable, selector: { matchLabels } } } })
  return await policy.replaceNamespacedPodDisruptionBudgetStatus({
    namespace,
    name,
    body: {
      ...created,
      status: {
        observedGeneration: created.metadata?.generation ?? 1,
        currentHealthy: healthy,
        desiredHealthy: minAvailable,
        expectedPods: healthy,
        disruptionsAllowed: Math.max(0, healthy - minAvailable)
      }
    }
  })
}
