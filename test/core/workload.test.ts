// The workload and owner of a pod, as istiod derives them (ISTIO_META_WORKLOAD_NAME, ISTIO_META_OWNER,
// the canonical-name fallback): from the owner chain in the webhook, from the manifest offline.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'
import { findWorkload } from '../../src/core/workload.js'

const controlled = (owner: { kind: string, apiVersion: string, name: string }, labels: Record<string, string> = {}): Pod => ({
  metadata: { generateName: `${owner.name}-`, labels, ownerReferences: [{ ...owner, uid: 'u', controller: true }] },
  spec: { containers: [{ name: 'app', image: 'app' }] }
})

t.test('the owner chain names the workload', async t => {
  const rs = { kind: 'ReplicaSet', apiVersion: 'apps/v1', name: 'checkout-rollout-6c5d9f7b8' }
  t.same(findWorkload(controlled(rs, { 'rollouts-pod-template-hash': '6c5d9f7b8' }), 'shop'),
    { name: 'checkout-rollout', owner: 'kubernetes://apis/v1alpha1/namespaces/shop/rollouts/checkout-rollout' }, 'an Argo Rollout')
  t.same(findWorkload(controlled(rs, { 'pod-template-hash': '6c5d9f7b8' }), 'shop'),
    { name: 'checkout-rollout', owner: 'kubernetes://apis/apps/v1/namespaces/shop/deployments/checkout-rollout' }, 'a Deployment')
  t.same(findWorkload(controlled({ kind: 'Job', apiVersion: 'batch/v1', name: 'backup-29384716' }), ''),
    { name: 'backup', owner: 'kubernetes://apis/batch/v1/namespaces/default/cronjobs/backup' }, "a CronJob's Job")
  t.same(findWorkload(controlled({ kind: 'Job', apiVersion: 'batch/v1', name: 'migrate' }), 'db'),
    { name: 'migrate', owner: 'kubernetes://apis/batch/v1/namespaces/db/jobs/migrate' }, 'a plain Job')
  t.same(findWorkload(controlled({ kind: 'ReplicationController', apiVersion: 'v1', name: 'web-3' }, { deploymentconfig: 'web' }), 'p'),
    { name: 'web', owner: 'kubernetes://apis/v1/namespaces/p/deploymentconfigs/web' }, 'an OpenShift DeploymentConfig')
  t.same(findWorkload({ metadata: { name: 'debug' }, spec: { containers: [] } }, 'ops'),
    { name: 'debug', owner: 'kubernetes://apis/v1/namespaces/ops/pods/debug' }, 'a bare pod is its own owner')
})

const envOf = (pod: Pod, name: string): string | undefined => {
  const proxy = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(c => c.name === 'istio-proxy')
  return proxy?.env?.find(e => e.name === name)?.value
}

t.test('inject: ISTIO_META_OWNER and the workload name, webhook and offline', async t => {
  const config = defaultConfig()
  const rs = { kind: 'ReplicaSet', apiVersion: 'apps/v1', name: 'checkout-rollout-6c5d9f7b8' }
  const webhook = inject(controlled(rs, { 'rollouts-pod-template-hash': '6c5d9f7b8' }), { namespace: 'shop' }, config)
  if (webhook.outcome !== 'injected') throw new Error(webhook.outcome)
  t.equal(envOf(webhook.pod, 'ISTIO_META_WORKLOAD_NAME'), 'checkout-rollout')
  t.equal(webhook.pod.metadata?.labels?.['service.istio.io/canonical-name'], 'checkout-rollout')
  t.equal(envOf(webhook.pod, 'ISTIO_META_OWNER'), 'kubernetes://apis/v1alpha1/namespaces/shop/rollouts/checkout-rollout')

  const bare = inject({ metadata: { name: 'debug', namespace: 'ops' }, spec: { containers: [{ name: 'app' }] } }, {}, config)
  if (bare.outcome !== 'injected') throw new Error(bare.outcome)
  t.equal(envOf(bare.pod, 'ISTIO_META_OWNER'), 'kubernetes://apis/v1/namespaces/ops/pods/debug')

  const template: Pod = { metadata: { name: 'reviews', namespace: 'shop', labels: { 'service.istio.io/workload-name': 'reviews-v2' } }, spec: { containers: [{ name: 'app' }] } }
  const offline = inject(template, { workload: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'reviews' } }, config)
  if (offline.outcome !== 'injected') throw new Error(offline.outcome)
  t.equal(envOf(offline.pod, 'ISTIO_META_OWNER'), 'kubernetes://apis/apps/v1/namespaces/shop/deployments/reviews')
  t.equal(envOf(offline.pod, 'ISTIO_META_WORKLOAD_NAME'), 'reviews-v2', 'the workload-name label wins')
})
