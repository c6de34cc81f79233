import t from 'tap'
import { createKubeApi } from '../../src/kube/api.js'
import { startListWatch } from '../../src/kube/list-watch.js'
import { collections, eventually, startFakeApiServer } from '../helpers/fake-api-server.js'

const quiet = { warn: () => {}, debug: () => {} }

t.test('a watch the server never ends is presumed dead and replaced', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  fake.put(collections.nodes, { metadata: { name: 'a' } })
  const api = createKubeApi(fake.kubeConfig)
  const lists = (): number => fake.requests.filter(r => r.url.startsWith('/api/v1/nodes?') && !r.url.includes('watch=true')).length
  const seen: string[] = []
  const watch = startListWatch({
    api,
    what: 'Nodes',
    path: '/api/v1/nodes',
    list: async () => await api.listNodes(),
    onList: items => { seen.push(`list:${items.length}`) },
    onEvent: (type, object: any) => { seen.push(`${type}:${String(object.metadata.name)}`) },
    logger: quiet,
    minBackoffMs: 20,
    maxBackoffMs: 100,
    staleWatchMs: 200
  })
  t.teardown(watch.stop)
  await eventually(() => lists() >= 3, 3000, 'two replacements of the silent watch')
  await eventually(() => fake.openWatches() <= 1, 1000, 'the replaced watches to be closed')
  t.ok(fake.openWatches() <= 1, 'replaced, not piled up')
  fake.put(collections.nodes, { metadata: { name: 'b' } })
  await eventually(() => seen.includes('ADDED:b'), 2000, 'events on the replacement watch')
  t.ok(seen.filter(s => s === 'list:1').length >= 3, 'each replacement starts from a fresh list')
})

t.test('stop ends the watch and lists no more', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  const watch = startListWatch({
    api, what: 'Nodes', path: '/api/v1/nodes', list: async () => await api.listNodes(), onList: () => {}, onEvent: () => {}, logger: quiet, minBackoffMs: 20
  })
  await eventually(() => fake.openWatches() === 1, 2000, 'the watch')
  t.ok(watch.synced())
  watch.stop()
  await eventually(() => fake.openWatches() === 0, 2000, 'the watch to close')
  const requests = fake.requests.length
  fake.closeWatches()
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(fake.requests.length, requests, 'no request after stop')
})

t.test('transitions: a list that fails is counted and retried; the machine says where it is', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  const failures: string[] = []
  let away = 2
  const watch = startListWatch({
    api,
    what: 'Nodes',
    path: '/api/v1/nodes',
    list: async () => {
      if (away-- > 0) throw new Error('API server away')
      return await api.listNodes()
    },
    onList: () => {},
    onEvent: () => {},
    logger: quiet,
    minBackoffMs: 150,
    onFailure: reason => { failures.push(reason) }
  })
  t.teardown(watch.stop)
  await eventually(() => failures.length === 1, 3000, 'the first failure')
  t.equal(watch.state(), 'backing-off', 'a failed list backs off')
  await eventually(() => watch.state() === 'watching', 3000, 'watching after two failed lists')
  t.same(failures, ['list-failed', 'list-failed'])
  fake.closeWatches()
  await eventually(() => fake.openWatches() === 1, 3000, 'resumed after a clean end')
  t.same(failures, ['list-failed', 'list-failed'], 'a clean end is not a failure')
  watch.stop()
  t.equal(watch.state(), 'stopped')
})
