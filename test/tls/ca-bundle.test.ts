import t from 'tap'
import { createKubeApi } from '../../src/kube/api.js'
import { caBundleOperations, needsCaBundle, patchCaBundle } from '../../src/tls/ca-bundle.js'
import { collections, startFakeApiServer } from '../helpers/fake-api-server.js'

const suffix = 'sidecar-injector.istio.io'
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const config = (webhooks: Array<{ name: string, caBundle?: string }>): any => ({
  metadata: { name: 'sidecar-injector' },
  webhooks: webhooks.map(w => ({ name: w.name, clientConfig: { service: { name: 's', namespace: 'n' }, ...(w.caBundle === undefined ? {} : { caBundle: w.caBundle }) } }))
})

t.test('operations touch only our entries whose caBundle differs, guarded by a test of the name', async t => {
  const c = config([{ name: `a.${suffix}` }, { name: 'other.example.com' }, { name: `b.${suffix}`, caBundle: b64('PEM') }, { name: `c.${suffix}`, caBundle: b64('OLD') }])
  t.same(caBundleOperations(c, 'PEM', suffix), [
    { op: 'test', path: '/webhooks/0/name', value: `a.${suffix}` },
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64('PEM') },
    { op: 'test', path: '/webhooks/3/name', value: `c.${suffix}` },
    { op: 'add', path: '/webhooks/3/clientConfig/caBundle', value: b64('PEM') }
  ])
  t.ok(needsCaBundle(c, 'PEM', suffix))
  t.notOk(needsCaBundle(config([{ name: `a.${suffix}`, caBundle: b64('PEM') }, { name: 'x' }]), 'PEM', suffix))
})

t.test('patchCaBundle patches every entry once, then has nothing to do', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  t.equal(await patchCaBundle(api, 'sidecar-injector', 'PEM', suffix), 'missing')
  fake.put(collections.webhooks, config([{ name: `a.${suffix}` }, { name: `b.${suffix}` }, { name: 'foreign.example.com', caBundle: b64('THEIRS') }]))
  t.equal(await patchCaBundle(api, 'sidecar-injector', 'PEM', suffix), 'patched')
  const stored = fake.get(collections.webhooks, 'sidecar-injector')
  t.same(stored?.webhooks.map((w: any) => w.clientConfig.caBundle), [b64('PEM'), b64('PEM'), b64('THEIRS')], 'foreign entries are left alone')
  t.equal(await patchCaBundle(api, 'sidecar-injector', 'PEM', suffix), 'unchanged')
  t.equal(fake.requests.filter(r => r.method === 'PATCH').length, 1, 'one patch in all')
})

t.test('a patch that loses a race is retried on a fresh read', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  fake.put(collections.webhooks, config([{ name: `a.${suffix}` }]))
  // Someone reorders the entries between our read and our patch: the test op fails (422), we read again.
  const racing = {
    readWebhookConfiguration: api.readWebhookConfiguration,
    patchWebhookConfiguration: async (name: string, ops: any) => {
      if (fake.requests.filter(r => r.method === 'PATCH').length === 0) {
        fake.put(collections.webhooks, config([{ name: 'inserted.example.com' }, { name: `a.${suffix}` }]))
      }
      return await api.patchWebhookConfiguration(name, ops)
    }
  }
  t.equal(await patchCaBundle(racing, 'sidecar-injector', 'PEM', suffix), 'patched')
  const stored = fake.get(collections.webhooks, 'sidecar-injector')
  t.equal(stored?.webhooks[1].clientConfig.caBundle, b64('PEM'))
  t.equal(stored?.webhooks[0].clientConfig.caBundle, undefined, 'the inserted entry was not touched')
  t.equal(fake.requests.filter(r => r.method === 'PATCH').length, 2)
})
