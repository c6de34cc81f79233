import t from 'tap'
import { createKubeApi, nodesPath } from '../../src/kube/api.js'
import type { WatchEventType } from '../../src/kube/api.js'
import { collections, eventually, startFakeApiServer } from '../helpers/fake-api-server.js'

t.test('client-node calls map the API server\'s status codes to outcomes', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)

  t.equal(await api.readSecret('ns', 'ca'), undefined, '404 reads as absent')
  const created = await api.createSecret('ns', { metadata: { name: 'ca' }, data: { a: 'Yg==' } })
  t.not(created, 'exists')
  t.equal(await api.createSecret('ns', { metadata: { name: 'ca' } }), 'exists', '409 on create reads as exists')
  const read = await api.readSecret('ns', 'ca')
  t.same(read?.data, { a: 'Yg==' })
  t.equal(await api.replaceSecret('ns', { metadata: { name: 'ca', resourceVersion: '1' } }), 'conflict', 'a stale resourceVersion is a conflict')
  const replaced = await api.replaceSecret('ns', { metadata: { name: 'ca', resourceVersion: read?.metadata?.resourceVersion ?? '' }, data: { a: 'Yw==' } })
  t.not(replaced, 'conflict')
  t.same(fake.get(collections.secrets('ns'), 'ca')?.data, { a: 'Yw==' })

  t.equal(await api.readWebhookConfiguration('w'), undefined)
  t.equal(await api.patchWebhookConfiguration('w', [{ op: 'add', path: '/metadata/labels', value: {} }]), undefined, 'patching an absent object')
  fake.put(collections.webhooks, { metadata: { name: 'w' }, webhooks: [{ name: 'a.example', clientConfig: {} }] })
  const patched = await api.patchWebhookConfiguration('w', [
    { op: 'test', path: '/webhooks/0/name', value: 'a.example' },
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'Zm9v' }
  ])
  t.not(patched, 'conflict')
  t.equal(fake.get(collections.webhooks, 'w')?.webhooks[0].clientConfig.caBundle, 'Zm9v')
  const patch = fake.requests.findLast(r => r.method === 'PATCH')
  t.equal(patch?.contentType, 'application/json-patch+json', 'sent as a JSON patch')
  t.equal(await api.patchWebhookConfiguration('w', [{ op: 'test', path: '/webhooks/0/name', value: 'other' }]), 'conflict', 'a failed test op (422) is a conflict')

  const list = await api.listWebhookConfigurations('metadata.name=w')
  t.equal(list.items.length, 1)
  t.match(fake.requests.findLast(r => r.method === 'GET')?.url, /fieldSelector=metadata.name%3Dw/)
  t.equal((await api.listWebhookConfigurations('metadata.name=x')).items.length, 0)

  fake.failNext('GET', '/api/v1/namespaces/ns/secrets/ca', 500)
  await t.rejects(api.readSecret('ns', 'ca'), 'other statuses are errors')
})

t.test('watch streams events until stopped or closed', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  const { resourceVersion } = await api.listNodes()
  const seen: Array<[WatchEventType, string]> = []
  let done: Error | undefined | 'open' = 'open'
  const handle = await api.watch(nodesPath, { resourceVersion }, (type, object) => { seen.push([type, object.metadata.name]) }, err => { done = err })
  await eventually(() => fake.openWatches() === 1)
  fake.put(collections.nodes, { metadata: { name: 'n1' } })
  fake.put(collections.nodes, { metadata: { name: 'n1' }, status: {} })
  fake.remove(collections.nodes, 'n1')
  await eventually(() => seen.length === 3)
  t.same(seen, [['ADDED', 'n1'], ['MODIFIED', 'n1'], ['DELETED', 'n1']])
  fake.closeWatches()
  await eventually(() => done !== 'open')
  t.equal(done, undefined, 'a clean end reports no error')
  handle.stop()
})

t.test('the Node list is read in pages', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  for (let i = 0; i < 1100; i++) fake.put(collections.nodes, { metadata: { name: `node-${String(i).padStart(4, '0')}` } })
  const api = createKubeApi(fake.kubeConfig)
  const { items, resourceVersion } = await api.listNodes()
  t.equal(items.length, 1100, 'every node')
  t.equal(new Set(items.map(n => n.metadata?.name)).size, 1100, 'each once')
  t.ok(Number(resourceVersion) > 1100)
  const pages = fake.requests.filter(r => r.url.startsWith('/api/v1/nodes?'))
  t.same(pages.map(r => new URL(r.url, 'http://x').searchParams.get('continue')), [null, '500', '1000'], 'three pages of 500')
})
