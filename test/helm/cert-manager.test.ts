// The chart's cert-manager mode, the whole loop on the local kube-apiserver (make helm-test):
// cert-manager's CRDs (from its Go module), its controllers and CA injector as processes
// (scripts/build-cert-manager.sh), `helm install --set tls.mode=certManager`, then: the self-signed
// Issuer -> CA Certificate -> CA Issuer -> serving Certificate chain is issued, the CA injector fills
// the caBundle of the chart's webhook entries, the injector serves the Secret cert-manager wrote
// (mounted as the kubelet would), and the API server calls it: a pod is injected; a re-issued
// certificate is served without a restart.
// A revision (cm) keeps this release apart from install.test.ts's, which may run at the same time.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:tls'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CustomObjectsApi } from '@kubernetes/client-node'
import t from 'tap'
import { connectCluster, createNamespace } from '../e2e/lib/cluster.js'
import { appPod, isInjected } from '../e2e/lib/pods.js'
import { freePort, startProcess, waitFor } from '../e2e/lib/processes.js'
import { certManagerBinaries, certManagerCrdsDir, chartDir } from './lib/chart.js'
import { existing, helmIn, mountConfig, mountTlsSecret, releaseObjects, serveAsDeployed, serviceAccountKubeconfig } from './lib/release.js'

const run = promisify(execFile)
const release = 'sidecar-injector-cm'
const revision = 'cm'

t.test('cert-manager issues the certificate, its CA injector the caBundle, and pods are injected', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const helm = helmIn(cluster)
  const dir = mkdtempSync(join(tmpdir(), 'helm-cert-manager-'))
  t.teardown(() => { if (t.passing()) rmSync(dir, { recursive: true, force: true }); else t.comment(`cert-manager and injector logs kept in ${dir}`) })
  const kubectl = async (...args: string[]): Promise<string> => (await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, ...args])).stdout

  await kubectl('apply', '--server-side', '-f', certManagerCrdsDir())
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/certificaterequests.cert-manager.io')
  const bin = certManagerBinaries()
  const controller = startProcess('cert-manager controller', bin.controller, ['--kubeconfig', cluster.kubeconfigPath], join(dir, 'cert-manager-controller.log'))
  t.teardown(async () => { await controller.stop() })
  const cainjector = startProcess('cert-manager cainjector', bin.cainjector, ['--kubeconfig', cluster.kubeconfigPath], join(dir, 'cert-manager-cainjector.log'))
  t.teardown(async () => { await cainjector.stop() })
  const down = (): string | undefined => [controller, cainjector].map(p => p.child.exitCode !== null ? `${p.name} exited:\n${p.tail()}` : undefined).find(m => m !== undefined)

  const namespace = `helm-cm-${cluster.runId}`
  const port = await freePort()
  await helm(['install', release, chartDir, '--namespace', namespace, '--create-namespace',
    '--set', `revision=${revision}`, '--set', 'tls.mode=certManager', '--set', `webhook.url=https://127.0.0.1:${port}/inject`,
    '--set', 'tls.certManager.ipAddresses={127.0.0.1}'])
  t.teardown(async () => { await helm(['uninstall', release, '--namespace', namespace]).catch(() => {}) })
  const installed = await releaseObjects(cluster, release, namespace)
  t.same(installed.filter(o => o.apiVersion === 'cert-manager.io/v1').map(o => `${String(o.kind)}/${String(o.metadata.name)}`).sort(), [
    `Certificate/${release}-root-ca`, `Certificate/${release}-tls`, `Issuer/${release}-ca`, `Issuer/${release}-selfsigned`
  ], 'the chart installs the issuer chain and the serving Certificate')

  const custom = cluster.kc.makeApiClient(CustomObjectsApi)
  const ready = async (name: string): Promise<true | undefined> => {
    const cert = await custom.getNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace, plural: 'certificates', name }) as { status?: { conditions?: Array<{ type: string, status: string }> } }
    return cert.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') === true ? true : undefined
  }
  await waitFor('the CA Certificate to be Ready', async () => await ready(`${release}-root-ca`), 90_000, down)
  await waitFor('the serving Certificate to be Ready', async () => await ready(`${release}-tls`), 90_000, down)
  t.pass('cert-manager issued the CA and, through the CA Issuer, the serving certificate')

  const deployment = installed.find(o => o.kind === 'Deployment')
  if (deployment === undefined) throw new Error('no Deployment in the release')
  await mountConfig(cluster, deployment, dir)
  const ca = await mountTlsSecret(cluster, deployment, dir)
  t.match(ca, /BEGIN CERTIFICATE/, 'the Secret the Deployment mounts holds the certificate and its CA')

  const bundles = await waitFor('the CA injector to fill the caBundle', async () => {
    const config = await cluster.admission.readMutatingWebhookConfiguration({ name: release })
    const found = (config.webhooks ?? []).map(w => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString())
    return found.length > 0 && found.every(b => b !== '') ? found : undefined
  }, 60_000, down)
  t.same(bundles, [ca, ca], 'both entries of the revision carry the serving certificate\'s CA (cert-manager.io/inject-ca-from)')

  const kubeconfig = await serviceAccountKubeconfig(cluster, namespace, deployment.spec.template.spec.serviceAccountName, join(dir, 'kubeconfig'))
  const serve = serveAsDeployed(deployment, { port, metricsPort: await freePort(), dir, kubeconfig })
  t.teardown(async () => { await serve.stop() })
  t.notOk((deployment.spec.template.spec.containers[0].args as string[]).includes('--self-managed-tls'), 'the self-managed TLS loop is off')

  const apps = await createNamespace(cluster, 'helm-cm-apps', { 'istio.io/rev': revision }, fn => { t.teardown(fn) })
  const pod = await waitFor('an injected pod', async () => {
    const created = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
    return isInjected(created) ? created : undefined
  }, 30_000, () => serve.child.exitCode !== null ? `the injector exited:\n${serve.tail()}` : down())
  t.ok(isInjected(pod), 'the API server verified the injector with the injected caBundle, and the pod got the sidecar')
  t.equal(pod.metadata?.annotations?.['istio.io/rev'], revision, 'injected by revision cm')

  // Renewal: a re-issue (here forced by deleting the Secret, which cert-manager answers by issuing
  // again, with a new key: rotationPolicy Always) reaches the running injector through the volume.
  const servedFingerprint = async (): Promise<string> => await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.once('error', reject)
  })
  const before = await servedFingerprint()
  const secretName = `${release}-tls`
  const issued = (await cluster.core.readNamespacedSecret({ name: secretName, namespace })).data?.['tls.crt']
  await cluster.core.deleteNamespacedSecret({ name: secretName, namespace })
  await waitFor('cert-manager to issue again', async () => {
    const secret = await cluster.core.readNamespacedSecret({ name: secretName, namespace })
    return secret.data?.['tls.crt'] !== undefined && secret.data['tls.crt'] !== issued ? true : undefined
  }, 90_000, down)
  t.equal(await mountTlsSecret(cluster, deployment, dir), ca, 'a new certificate from the same CA') // the kubelet's volume update
  await waitFor('the injector to serve the new certificate', async () => (await servedFingerprint()) !== before ? true : undefined, 30_000)
  t.pass('the injector serves the renewed certificate without a restart')
  t.ok(isInjected(await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('after-renewal', { generateName: true }) })), 'and pods are still injected')

  await helm(['uninstall', release, '--namespace', namespace])
  t.same(await existing(cluster, installed), [], `helm uninstall removed all ${installed.length} objects of the release`)
  // cert-manager keeps a Certificate's Secret when the Certificate goes (unless its controller runs
  // with --enable-certificate-owner-ref): docs/install.md says so.
  const left = (await cluster.core.listNamespacedSecret({ namespace })).items.map(s => s.metadata?.name).sort()
  t.same(left, [`${release}-root-ca`, `${release}-tls`], 'left: the two Secrets cert-manager wrote, as cert-manager does by default')
})
