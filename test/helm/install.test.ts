// helm install / upgrade / uninstall of the chart on the local kube-apiserver (make helm-test), with
// the injector running outside the cluster as the e2e suite runs it (webhook.url = 127.0.0.1), started
// with its Deployment's args, its ConfigMap's config and its ServiceAccount's credentials:
//  1. self-managed TLS: the injector patches the caBundle of the chart's configuration, pods are
//     injected; a canary revision installs and injects beside it; an upgrade keeps that caBundle (Helm's server-side apply leaves other managers'
//     fields alone) and delivers the new config; uninstall removes every object of the release;
//  2. a static certificate from files: the chart's Secret is what the injector serves.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connectCluster, createNamespace } from '../e2e/lib/cluster.js'
import { appPod, isInjected, proxyContainer } from '../e2e/lib/pods.js'
import { freePort, waitFor } from '../e2e/lib/processes.js'
import { generateWebhookCerts } from '../e2e/lib/webhook.js'
import { chartDir } from './lib/chart.js'
import { existing, helmIn, mountConfig, mountTlsSecret, releaseObjects, serveAsDeployed, serviceAccountKubeconfig } from './lib/release.js'

const release = 'sidecar-injector'

t.test('self-managed TLS: install, inject, upgrade, uninstall', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const helm = helmIn(cluster)
  const namespace = `helm-install-${cluster.runId}`
  const dir = mkdtempSync(join(tmpdir(), 'helm-install-'))
  t.teardown(() => { if (t.passing()) rmSync(dir, { recursive: true, force: true }); else t.comment(`injector log kept in ${dir}`) })
  const port = await freePort()

  await helm(['install', release, chartDir, '--namespace', namespace, '--create-namespace', '--set', `webhook.url=https://127.0.0.1:${port}/inject`])
  t.teardown(async () => { await helm(['uninstall', release, '--namespace', namespace]).catch(() => {}) })
  const installed = await releaseObjects(cluster, release, namespace)
  t.same(await existing(cluster, installed), installed.map(o => `${String(o.kind)}/${String(o.metadata.name)}`), `helm install created all ${installed.length} objects`)
  const deployment = installed.find(o => o.kind === 'Deployment')
  if (deployment === undefined) throw new Error('no Deployment in the release')

  const kubeconfig = await serviceAccountKubeconfig(cluster, namespace, deployment.spec.template.spec.serviceAccountName, join(dir, 'kubeconfig'))
  await mountConfig(cluster, deployment, dir)
  const metricsPort = await freePort()
  const serve = serveAsDeployed(deployment, { port, metricsPort, dir, kubeconfig })
  t.teardown(async () => { await serve.stop() })
  const exited = (): string | undefined => serve.child.exitCode !== null ? `the injector exited (${String(serve.child.exitCode)}):\n${serve.tail()}` : undefined

  const bundles = async (): Promise<string[]> => ((await cluster.admission.readMutatingWebhookConfiguration({ name: release })).webhooks ?? [])
    .map(w => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString())
  const published = await waitFor('the injector to publish its caBundle', async () => {
    const found = await bundles()
    return found.length > 0 && found.every(b => b.includes('BEGIN CERTIFICATE')) ? found : undefined
  }, 60_000, exited)
  t.equal(published.length, 4, 'every entry of the chart\'s configuration carries the injector\'s CA (with the chart\'s RBAC only)')

  const apps = await createNamespace(cluster, 'helm-apps', { 'istio-injection': 'enabled' }, fn => { t.teardown(fn) })
  const pod = await waitFor('an injected pod', async () => {
    const created = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
    return isInjected(created) ? created : undefined
  }, 30_000, exited)
  t.equal(proxyContainer(pod)?.container.image, 'docker.io/istio/proxyv2:1.28.0', 'injected through the chart\'s configuration, with the chart\'s config')
  const revApps = await createNamespace(cluster, 'helm-rev-apps', { 'istio.io/rev': 'default' }, fn => { t.teardown(fn) })
  t.ok(isInjected(await cluster.core.createNamespacedPod({ namespace: revApps, body: appPod('web') })), 'istio.io/rev=default selects it too')
  t.ok((deployment.spec.template.spec.containers[0].args as string[]).includes('--metrics-port=8080'), 'the chart\'s Deployment serves metrics on 8080 (here on a free port)')
  const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.equal(scraped.status, 200, 'the metrics listener of the injector as deployed')
  t.match(await scraped.text(), /^sidecar_injector_injections_total [1-9]\d*$/m, 'counting the injections above')

  // A second revision beside it, as in Istio's canary upgrades: its own objects, its own injector.
  const canaryPort = await freePort()
  await helm(['install', `${release}-canary`, chartDir, '--namespace', namespace, '--set', 'revision=canary', '--set', `webhook.url=https://127.0.0.1:${canaryPort}/inject`])
  t.teardown(async () => { await helm(['uninstall', `${release}-canary`, '--namespace', namespace]).catch(() => {}) })
  const canaryObjects = await releaseObjects(cluster, `${release}-canary`, namespace)
  const canaryDeployment = canaryObjects.find(o => o.kind === 'Deployment')
  if (canaryDeployment === undefined) throw new Error('no Deployment in the canary release')
  const canaryDir = join(dir, 'canary')
  const canaryKubeconfig = await serviceAccountKubeconfig(cluster, namespace, canaryDeployment.spec.template.spec.serviceAccountName, join(dir, 'canary-kubeconfig'))
  await mountConfig(cluster, canaryDeployment, canaryDir)
  const canaryServe = serveAsDeployed(canaryDeployment, { port: canaryPort, metricsPort: await freePort(), dir: canaryDir, kubeconfig: canaryKubeconfig })
  t.teardown(async () => { await canaryServe.stop() })
  const canaryApps = await createNamespace(cluster, 'helm-canary-apps', { 'istio.io/rev': 'canary' }, fn => { t.teardown(fn) })
  const canaryPod = await waitFor('a pod injected by the canary', async () => {
    const created = await cluster.core.createNamespacedPod({ namespace: canaryApps, body: appPod('web', { generateName: true }) })
    return isInjected(created) ? created : undefined
  }, 60_000, () => canaryServe.child.exitCode !== null ? `the canary injector exited:\n${canaryServe.tail()}` : undefined)
  t.equal(canaryPod.metadata?.annotations?.['istio.io/rev'], 'canary', 'istio.io/rev=canary: injected by the canary revision')
  const stillDefault = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
  t.equal(stillDefault.metadata?.annotations?.['istio.io/rev'], 'default', 'istio-injection=enabled: still the default revision')
  await helm(['uninstall', `${release}-canary`, '--namespace', namespace])
  await canaryServe.stop()
  t.same(await existing(cluster, canaryObjects), [], 'the canary uninstalled, its objects gone')

  await helm(['upgrade', release, chartDir, '--namespace', namespace, '--reuse-values', '--set', 'config.images.proxy=docker.io/istio/proxyv2:1.28.1'])
  t.same(await bundles(), published, 'helm upgrade left the caBundle the injector patched in (server-side apply, other manager\'s field)')
  t.match(await helm(['history', release, '--namespace', namespace]), /\n2\s.*deployed/, 'revision 2 deployed')
  await mountConfig(cluster, deployment, dir) // the kubelet's update of the ConfigMap volume
  const upgraded = await waitFor('the new config to be used', async () => {
    const created = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
    return proxyContainer(created)?.container.image === 'docker.io/istio/proxyv2:1.28.1' ? created : undefined
  }, 30_000, exited)
  t.ok(isInjected(upgraded), 'after the upgrade, pods get the upgraded config, without an injector restart')

  const upgradedObjects = await releaseObjects(cluster, release, namespace)
  await helm(['uninstall', release, '--namespace', namespace])
  t.same(await existing(cluster, upgradedObjects), [], `helm uninstall removed all ${upgradedObjects.length} objects of the release`)
  const plain = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('after', { generateName: true }) })
  t.notOk(isInjected(plain), 'no webhook left: pods are created as written')
  // What Helm never owned: the CA Secrets the injectors created at run time (docs/install.md).
  const secrets = (await cluster.core.listNamespacedSecret({ namespace })).items.map(s => s.metadata?.name).sort()
  t.same(secrets, ['sidecar-injector-ca', 'sidecar-injector-canary-ca'], 'left in the namespace: only each injector\'s own CA Secret, which uninstall does not know of')
  await serve.stop()
})

t.test('static certificate from files: the injector serves the chart\'s Secret', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const helm = helmIn(cluster)
  const namespace = `helm-static-${cluster.runId}`
  const dir = mkdtempSync(join(tmpdir(), 'helm-static-'))
  t.teardown(() => { if (t.passing()) rmSync(dir, { recursive: true, force: true }); else t.comment(`injector log kept in ${dir}`) })
  const certs = await generateWebhookCerts(join(dir, 'certs')) // `sidecar-injector certs --ip 127.0.0.1`
  const port = await freePort()
  await helm(['install', release, chartDir, '--namespace', namespace, '--create-namespace',
    '--set', 'tls.mode=static', '--set', `webhook.url=https://127.0.0.1:${port}/inject`, '--set', 'failurePolicy=Fail',
    '--set-file', `tls.caBundle=${join(certs.dir, 'ca.crt')}`, '--set-file', `tls.static.cert=${certs.certFile}`, '--set-file', `tls.static.key=${certs.keyFile}`])
  t.teardown(async () => { await helm(['uninstall', release, '--namespace', namespace]).catch(() => {}) })
  const installed = await releaseObjects(cluster, release, namespace)
  const deployment = installed.find(o => o.kind === 'Deployment')
  if (deployment === undefined) throw new Error('no Deployment in the release')
  t.notOk(installed.some(o => o.kind === 'Role'), 'no Secret access: the static install needs none')

  const kubeconfig = await serviceAccountKubeconfig(cluster, namespace, deployment.spec.template.spec.serviceAccountName, join(dir, 'kubeconfig'))
  await mountConfig(cluster, deployment, dir)
  await mountTlsSecret(cluster, deployment, dir)
  const metricsPort = await freePort()
  const serve = serveAsDeployed(deployment, { port, metricsPort, dir, kubeconfig })
  t.teardown(async () => { await serve.stop() })
  const exited = (): string | undefined => serve.child.exitCode !== null ? `the injector exited (${String(serve.child.exitCode)}):\n${serve.tail()}` : undefined

  const apps = await createNamespace(cluster, 'helm-static-apps', { 'istio-injection': 'enabled' }, fn => { t.teardown(fn) })
  const pod = await waitFor('an injected pod', async () => {
    const created = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
    return isInjected(created) ? created : undefined
  }, 30_000, exited)
  t.ok(isInjected(pod), 'the API server trusted the chart\'s caBundle and the injector served the chart\'s Secret')

  await helm(['uninstall', release, '--namespace', namespace])
  t.same(await existing(cluster, installed), [], `helm uninstall removed all ${installed.length} objects, the Secret included`)
  t.same((await cluster.core.listNamespacedSecret({ namespace })).items.map(s => s.metadata?.name), [], 'nothing left in the namespace')
  await serve.stop()
})
