// Which pods get the sidecar, decided by the real API server (the shipped webhook selectors) and
// the webhook (code-level policy), and what the API server stores: Istio's matrix
// (docs/istio-compatibility.md), generateName pods, native sidecars and dry-run.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { assertInjected, assertUntouched } from './lib/assertions.js'
import { isApiError } from './lib/cluster.js'
import { httpsGet } from './lib/https.js'
import { appPod, proxyContainer } from './lib/pods.js'
import { setupSuite } from './lib/suite.js'
import { shippedRevision } from './lib/webhook-configuration.js'

t.test('injection through the real API server', async t => {
  const suite = await setupSuite(t, { name: 'inject' })
  const read = async (namespace: string, name: string) => await suite.cluster.core.readNamespacedPod({ namespace, name })

  await t.test('namespace istio-injection=enabled: the stored pod has the proxy, the init container and the certificate volumes', async t => {
    const ns = await suite.namespace('enabled', { 'istio-injection': 'enabled' })
    await suite.createPod(ns, appPod('web'))
    const stored = await read(ns, 'web')
    assertInjected(t, stored)
    t.ok(stored.spec?.volumes?.some(v => v.name.startsWith('kube-api-access-')), 'the ServiceAccount token volume the API server added is kept')
    t.equal(stored.spec?.containers[0]?.name, 'app', 'the application container comes first')
  })

  await t.test('unlabelled namespace: untouched', async t => {
    const ns = await suite.namespace('plain')
    await suite.createPod(ns, appPod('web'))
    assertUntouched(t, await read(ns, 'web'))
  })

  await t.test('namespace istio-injection=disabled beats pod label sidecar.istio.io/inject=true', async t => {
    const ns = await suite.namespace('disabled', { 'istio-injection': 'disabled' })
    await suite.createPod(ns, appPod('web', { labels: { 'sidecar.istio.io/inject': 'true' } }))
    assertUntouched(t, await read(ns, 'web'))
  })

  await t.test('pod label sidecar.istio.io/inject=false in an enabled namespace: untouched', async t => {
    const ns = await suite.namespace('optout', { 'istio-injection': 'enabled' })
    await suite.createPod(ns, appPod('web', { labels: { 'sidecar.istio.io/inject': 'false' } }))
    assertUntouched(t, await read(ns, 'web'))
  })

  await t.test('annotation sidecar.istio.io/inject=false in an enabled namespace: untouched (code-level skip)', async t => {
    const ns = await suite.namespace('optout-annotation', { 'istio-injection': 'enabled' })
    await suite.createPod(ns, appPod('web', { annotations: { 'sidecar.istio.io/inject': 'false' } }))
    assertUntouched(t, await read(ns, 'web'))
  })

  await t.test('pod label sidecar.istio.io/inject=true in an unlabelled namespace: injected', async t => {
    const ns = await suite.namespace('optin')
    await suite.createPod(ns, appPod('web', { labels: { 'sidecar.istio.io/inject': 'true' } }))
    assertInjected(t, await read(ns, 'web'))
  })

  const revision = shippedRevision()
  await t.test('istio.io/rev', { skip: revision === undefined && 'the shipped webhooks select no istio.io/rev' }, async t => {
    const rev = revision ?? ''
    const byNamespace = await suite.namespace('rev', { 'istio.io/rev': rev })
    await suite.createPod(byNamespace, appPod('web'))
    assertInjected(t, await read(byNamespace, 'web'))

    const byPod = await suite.namespace('rev-pod')
    await suite.createPod(byPod, appPod('web', { labels: { 'istio.io/rev': rev } }))
    assertInjected(t, await read(byPod, 'web'))

    const other = await suite.namespace('rev-other', { 'istio.io/rev': 'some-other-revision' })
    await suite.createPod(other, appPod('web'))
    assertUntouched(t, await read(other, 'web'))

    const optOut = await suite.namespace('rev-optout', { 'istio.io/rev': rev })
    await suite.createPod(optOut, appPod('web', { labels: { 'sidecar.istio.io/inject': 'false' } }))
    assertUntouched(t, await read(optOut, 'web'))
  })

  await t.test('a pod shaped as a controller sends it (generateName, no name): injected', async t => {
    const ns = await suite.namespace('generated', { 'istio-injection': 'enabled' })
    const pod = appPod('reviews-v1-7d9f8c6b5', {
      generateName: true,
      labels: { app: 'reviews', version: 'v1', 'pod-template-hash': '7d9f8c6b5' }
    })
    // As the ReplicaSet controller sends it: owned by ReplicaSet <deployment>-<pod-template-hash>.
    // (No garbage collector runs on the local control plane, so the owner need not exist.)
    pod.metadata = {
      ...pod.metadata,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-v1-7d9f8c6b5', uid: randomUUID(), controller: true, blockOwnerDeletion: true }]
    }
    const created = await suite.createPod(ns, pod)
    const name = created.metadata?.name ?? ''
    t.match(name, /^reviews-v1-7d9f8c6b5-[a-z0-9]{5}$/, 'the API server generated the name')
    const stored = await read(ns, name)
    assertInjected(t, stored)
    t.equal(stored.metadata?.labels?.['service.istio.io/canonical-name'], 'reviews', 'canonical name from the app label')
    t.equal(stored.metadata?.labels?.['service.istio.io/canonical-revision'], 'v1', 'canonical revision from the version label')
    const env = new Map((proxyContainer(stored)?.container.env ?? []).map(e => [e.name, e.value]))
    t.equal(env.get('ISTIO_META_WORKLOAD_NAME'), 'reviews-v1', 'the workload is the Deployment, found through the ReplicaSet owner')
    t.equal(env.get('ISTIO_META_OWNER'), `kubernetes://apis/apps/v1/namespaces/${ns}/deployments/reviews-v1`, 'and named as the owner')
  })

  await t.test('native sidecar mode: the API server accepts istio-proxy as an init container with restartPolicy Always', async t => {
    const ns = await suite.namespace('native', { 'istio-injection': 'enabled' })
    await suite.createPod(ns, appPod('native', { annotations: { 'sidecar.istio.io/nativeSidecar': 'true' } }))
    const stored = await read(ns, 'native')
    assertInjected(t, stored, { native: true })
    t.notOk(stored.spec?.containers.some(c => c.name === 'istio-proxy'), 'not also a regular container')
    t.ok(proxyContainer(stored)?.container.readinessProbe, 'the native sidecar keeps its readiness probe (allowed only with restartPolicy Always)')

    await suite.createPod(ns, appPod('classic', { annotations: { 'sidecar.istio.io/nativeSidecar': 'false' } }))
    assertInjected(t, await read(ns, 'classic'), { native: false })
  })

  await t.test('server-side dry-run: the answer is injected, nothing is stored', async t => {
    const ns = await suite.namespace('dryrun', { 'istio-injection': 'enabled' })
    const answer = await suite.createPod(ns, appPod('ghost'), { dryRun: true })
    assertInjected(t, answer)
    try {
      await read(ns, 'ghost')
      t.fail('a dry-run pod was stored')
    } catch (err) {
      t.ok(isApiError(err, 404), 'the pod does not exist')
    }
  })

  await t.test('the metrics port counts what the API server sent; the webhook port has no /metrics', { skip: suite.webhook === undefined && 'needs the local webhook' }, async t => {
    const webhook = suite.webhook
    if (webhook === undefined || suite.certs === undefined) return
    const res = await fetch(webhook.metricsUrl)
    t.equal(res.status, 200, `GET ${webhook.metricsUrl}`)
    const text = await res.text()
    const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? Number.NaN)
    // The injected pods above (and the registration's dry-run polls): at least five reached us.
    t.ok(value(/^sidecar_injector_injections_total (\d+)$/m) >= 5, 'injections counted', { text: text.slice(0, 2000) })
    t.ok(value(/^sidecar_injector_requests_total\{code="200"\} (\d+)$/m) >= 5, 'admissions answered 200 counted')
    const onWebhook = await httpsGet(`https://127.0.0.1:${webhook.port}/metrics`, { ca: suite.certs.caPem })
    t.equal(onWebhook.status, 404, 'the webhook port, open to the API server, serves no metrics')
    t.match(JSON.parse(onWebhook.body), { statusCode: 404, reason: 'not-found' })
  })
})
