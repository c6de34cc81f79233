import { request } from 'node:https'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { KubeSettingsError, parseKubeSettings, startKubeIntegration } from '../../src/kube/in-cluster.js'
import { startServer } from '../../src/serve.js'
import { collections, eventually, startFakeApiServer } from '../helpers/fake-api-server.js'

t.test('parseKubeSettings: nothing asked, nothing returned; flags win over INJECTOR_* variables', async t => {
  t.equal(parseKubeSettings({}, {}), undefined, 'a local run with certificate files never needs a cluster')
  t.same(parseKubeSettings({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), {
    selfManagedTls: false,
    namespace: 'sidecar-injector',
    serviceName: 'sidecar-injector',
    webhookConfigName: 'sidecar-injector',
    caSecretName: 'sidecar-injector-ca',
    detectNativeSidecars: true,
    extraSans: []
  }, 'in a cluster, native-sidecar detection is on by default')
  t.equal(parseKubeSettings({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1', INJECTOR_DETECT_NATIVE_SIDECARS: 'false' }), undefined)
  t.same(parseKubeSettings({ 'self-managed-tls': true, namespace: 'flag-ns' }, { INJECTOR_NAMESPACE: 'env-ns', INJECTOR_CA_SECRET_NAME: 'env-ca' }), {
    selfManagedTls: true,
    namespace: 'flag-ns',
    serviceName: 'sidecar-injector',
    webhookConfigName: 'sidecar-injector',
    caSecretName: 'env-ca',
    detectNativeSidecars: false,
    extraSans: []
  })
  t.equal(parseKubeSettings({}, { INJECTOR_SELF_MANAGED_TLS: 'true' })?.selfManagedTls, true)
  t.same(parseKubeSettings({ 'self-managed-tls': true, 'extra-sans': '127.0.0.1, injector.example.com,::1' }, {})?.extraSans, ['127.0.0.1', 'injector.example.com', '::1'])
  t.throws(() => parseKubeSettings({ 'self-managed-tls': true, 'extra-sans': 'not a name' }, {}), /--extra-sans: 'not a name'/)
  t.throws(() => parseKubeSettings({ 'detect-native-sidecars': 'yes' }, {}), KubeSettingsError)
  t.throws(() => parseKubeSettings({ 'self-managed-tls': true, namespace: 'Bad_Name' }, {}), /--namespace must be a Kubernetes object name/)
})

t.test('serve with self-managed TLS: the server presents a certificate the published caBundle trusts', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  fake.put(collections.webhooks, {
    metadata: { name: 'sidecar-injector' },
    webhooks: [{ name: 'namespace.sidecar-injector.istio.io', clientConfig: { service: { name: 'sidecar-injector', namespace: 'mesh', path: '/inject' } } }]
  })
  fake.put(collections.nodes, { metadata: { name: 'n1' }, status: { nodeInfo: { kubeletVersion: 'v1.34.1' } } })
  const logger = pino({ level: 'silent' })
  const settings = parseKubeSettings({ 'self-managed-tls': true, namespace: 'mesh', 'detect-native-sidecars': 'true', 'extra-sans': '127.0.0.1' }, {})
  if (settings === undefined) throw new Error('settings expected')
  const kube = await startKubeIntegration(settings, { logger, kubeConfig: fake.kubeConfig })
  t.teardown(kube.stop)
  t.ok(kube.certificates !== undefined && kube.facts !== undefined)
  const running = await startServer({ port: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'silent', drainSeconds: 0 }, {
    logger, registry: new Registry(), ...(kube.certificates === undefined ? {} : { certificates: kube.certificates }), ...(kube.facts === undefined ? {} : { facts: kube.facts })
  })
  t.teardown(running.shutdown)

  const stored = fake.get(collections.webhooks, 'sidecar-injector')
  const caBundle = Buffer.from(stored?.webhooks[0].clientConfig.caBundle ?? '', 'base64').toString()
  t.match(caBundle, /BEGIN CERTIFICATE/, 'the caBundle was patched at start')
  // As the API server calls the webhook: trusting only caBundle, verifying <svc>.<ns>.svc.
  const get = async (servername?: string): Promise<{ status: number | undefined, body: string }> => await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: running.port, path: '/readyz', ca: caBundle, ...(servername === undefined ? {} : { servername }) }, res => {
      let body = ''
      res.on('data', chunk => { body += String(chunk) })
      res.on('end', () => { resolve({ status: res.statusCode, body }) })
    })
    req.on('error', reject)
    req.end()
  })
  t.same(await get('sidecar-injector.mesh.svc'), { status: 200, body: 'ready\n' }, 'the Service name, as the API server checks it')
  t.same(await get(), { status: 200, body: 'ready\n' }, 'the extra IP SAN, as a clientConfig.url to 127.0.0.1 is checked')
  const metrics = await running.metrics.registry.metrics()
  const expiry = Number(/sidecar_injector_certificate_expiry_timestamp_seconds (\d+)/.exec(metrics)?.[1])
  t.ok(expiry * 1000 > Date.now() + 23 * 3_600_000 && expiry * 1000 <= Date.now() + 24 * 3_600_000, 'the certificate expiry is exported')
  await eventually(() => kube.facts?.({ spec: { containers: [] } }).nativeSidecarsSupported === true, 3000, 'node facts')
  t.same(kube.facts?.({ spec: { containers: [], nodeName: 'n1' } }), { nativeSidecarsSupported: true })
})
