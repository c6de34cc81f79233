import t from 'tap'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { diffPatch, encodePatch, escapePointer } from '../../src/core/patch.js'
import type { Pod } from '../../src/core/types.js'
import { loadPod } from '../helpers/fixtures.js'

const apply = (pod: Pod, ops: Operation[]): Pod => jsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument

function injectedPod (pod: Pod, facts = {}): Pod {
  const r = inject(pod, {}, defaultConfig(), facts)
  if (r.outcome !== 'injected') throw new Error(r.outcome)
  return r.pod
}

t.test('JSON Pointer escaping (RFC 6901)', async t => {
  t.equal(escapePointer('sidecar.istio.io/status'), 'sidecar.istio.io~1status')
  t.equal(escapePointer('a~b/c'), 'a~0b~1c', '~ first, then /')
  const ops = diffPatch(loadPod('pointer-escaping.yaml'), injectedPod(loadPod('pointer-escaping.yaml')))
  t.ok(ops.some(op => op.path === '/metadata/annotations/sidecar.istio.io~1status'))
  t.notOk(ops.some(op => op.path.startsWith('/metadata/annotations/') && op.path.split('/').length !== 4), 'one key, one segment')
})

t.test('absent maps and lists are added whole', async t => {
  const bare = loadPod('minimal.json')
  const ops = diffPatch(bare, injectedPod(bare))
  const paths = ops.map(op => `${op.op} ${op.path}`)
  t.ok(paths.includes('add /metadata/labels'))
  t.ok(paths.includes('add /metadata/annotations'))
  t.ok(paths.includes('add /spec/initContainers'))
  t.ok(paths.includes('add /spec/volumes'))
  t.same(paths.filter(p => p.startsWith('add /spec/containers')), ['add /spec/containers/1'], 'the proxy is appended')
})

t.test('prepending to a list adds at the front instead of rewriting every item', async t => {
  const pod = loadPod('init-containers.yaml')
  const ops = diffPatch(pod, injectedPod(pod, { nativeSidecarsSupported: true }))
  const init = ops.filter(op => op.path.startsWith('/spec/initContainers'))
  t.same(init.map(op => `${op.op} ${op.path}`), ['add /spec/initContainers/0', 'add /spec/initContainers/1'])
})

t.test('changed items get a fine-grained diff', async t => {
  const pod = loadPod('api-server-defaulted.json')
  const ops = diffPatch(pod, injectedPod(pod))
  t.ok(ops.some(op => op.path === '/spec/containers/0/readinessProbe/httpGet/port'), 'only the probe fields of the app container')
  t.notOk(ops.some(op => op.path === '/spec/containers/0'), 'the app container is not replaced')
})

t.test('items that changed order fall back to replacing the list, still correctly', async t => {
  const before: Pod = { metadata: {}, spec: { containers: [{ name: 'a' }, { name: 'b' }] } }
  const after: Pod = { metadata: {}, spec: { containers: [{ name: 'b' }, { name: 'a' }] } }
  const ops = diffPatch(before, after)
  t.same(ops, [{ op: 'replace', path: '/spec/containers', value: after.spec?.containers }])
  t.same(apply(before, ops), after)
})

t.test('removals, additions and changes in one list apply to the intended result', async t => {
  const before: Pod = { metadata: { labels: { x: '1', y: '2' } }, spec: { containers: [{ name: 'a', image: '1' }, { name: 'gone' }, { name: 'c' }] } }
  const after: Pod = { metadata: { labels: { x: '1', z: '3' } }, spec: { containers: [{ name: 'new' }, { name: 'a', image: '2' }, { name: 'c' }, { name: 'end' }] } }
  const ops = diffPatch(before, after)
  t.same(apply(before, ops), after)
  t.same(diffPatch(after, after), [])
})

t.test('the patch travels as base64 of the JSON array', async t => {
  const ops: Operation[] = [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }]
  t.same(JSON.parse(Buffer.from(encodePatch(ops), 'base64').toString('utf8')), ops)
})
