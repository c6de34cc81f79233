// examples/gateway/ through the real API server: the ingress gateway pod, opted in by its own label in
// a namespace without an injection label (the way Istio's gateway chart deploys it), comes back with its
// istio-proxy filled in by the gateway profile: the proxy image instead of `image: auto`, Envoy as a
// router, no init container, and the sysctl that lets it bind ports below 1024.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { apiErrorMessage } from './lib/cluster.js'
import { repoRoot } from './lib/repo.js'
import { setupSuite } from './lib/suite.js'

const example = parseAllDocuments(readFileSync(join(repoRoot, 'examples/gateway/pods.yaml'), 'utf8'))
  .map(d => d.toJS() as V1Pod).find(p => p.kind === 'Pod')

t.test('an ingress gateway deployed by injection', async t => {
  if (example === undefined) throw new Error('examples/gateway/pods.yaml has no Pod')
  const suite = await setupSuite(t, { name: 'gateway' })
  const ns = await suite.namespace('ingress')
  const created = await suite.createPod(ns, example)
  const stored = await suite.cluster.core.readNamespacedPod({ namespace: ns, name: created.metadata?.name ?? '' })
  const containers = stored.spec?.containers ?? []
  t.same(containers.map(c => c.name), ['istio-proxy'], 'the one container, in place')
  const proxy = containers[0]
  t.not(proxy?.image, 'auto', 'image: auto is replaced')
  t.match(proxy?.image, /proxyv2/, 'by the proxy image')
  t.same(proxy?.args?.slice(0, 2), ['proxy', 'router'], 'Envoy as the gateway')
  t.same(proxy?.ports?.map(p => p.containerPort).sort(), [15090, 8080, 8443].sort(), "the pod's ports and Envoy's metrics port")
  t.equal(proxy?.securityContext?.runAsNonRoot, true, "the pod's own securityContext is kept")
  t.equal(stored.spec?.initContainers, undefined, 'no init container: a gateway captures nothing')
  t.ok(stored.spec?.securityContext?.sysctls?.some(s => s.name === 'net.ipv4.ip_unprivileged_port_start' && s.value === '0'), 'may bind ports below 1024 without root')
  t.ok(stored.spec?.volumes?.some(v => v.name === 'istio-token'), 'the mesh certificates are mounted')
  t.match(stored.metadata?.annotations?.['sidecar.istio.io/status'], /"containers":\["istio-proxy"\]/)

  await t.test('an unknown template is refused by the API server, naming it', async t => {
    const bad = { ...example, metadata: { ...example.metadata, name: 'bad-gateway', annotations: { 'inject.istio.io/templates': 'gateway,ingress' } } }
    const error = await suite.createPod(ns, bad).then(() => undefined, (err: unknown) => err)
    t.ok(error, 'refused')
    t.match(apiErrorMessage(error), /inject\.istio\.io\/templates.*unknown template 'ingress'/)
  })
})
