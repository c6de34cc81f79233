import t from 'tap'
import type { CpuProfile } from '../../bench/profile.js'
import { areaOf, summariseProfile } from '../../bench/profile.js'
import { repoRoot } from '../../bench/servers.js'

const frame = (functionName: string, url = '', lineNumber = 0): { functionName: string, url: string, lineNumber: number } => ({ functionName, url, lineNumber })

// root → handler(http) → reviewAdmission(admission) → inject(core); plus parse under fastify, GC and idle.
const profile: CpuProfile = {
  startTime: 1000,
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6, 7] },
    { id: 2, callFrame: frame('', `file://${repoRoot}dist/http/server.js`, 89), children: [3] },
    { id: 3, callFrame: frame('reviewAdmission', `file://${repoRoot}dist/admission/review.js`, 19), children: [4] },
    { id: 4, callFrame: frame('inject', `file://${repoRoot}dist/core/inject.js`, 10) },
    { id: 5, callFrame: frame('_parse', `file://${repoRoot}node_modules/secure-json-parse/index.js`, 16) },
    { id: 6, callFrame: frame('(garbage collector)') },
    { id: 7, callFrame: frame('(idle)') }
  ],
  // Each sample stands for the delta that follows it: 100 µs each here, none for the last one.
  samples: [4, 4, 3, 5, 6, 7, 4],
  timeDeltas: [0, 100, 100, 100, 100, 100, 100]
}

t.test('areas by file', async t => {
  t.equal(areaOf(frame('inject', 'file:///x/dist/core/inject.js')), 'src/core')
  t.equal(areaOf(frame('write', 'file:///x/node_modules/sonic-boom/index.js')), 'logging (pino)')
  t.equal(areaOf(frame('route', 'file:///x/node_modules/find-my-way/index.js')), 'fastify')
  t.equal(areaOf(frame('parse')), 'JSON.parse')
  t.equal(areaOf(frame('writev', 'node:net')), 'node (lib)')
  t.equal(areaOf(frame('(garbage collector)')), 'gc')
})

t.test('self, inclusive and area times leave idle out', async t => {
  const s = summariseProfile(profile, 3, 'r', 8)
  t.equal(s.busyMs, 0.5, 'five busy samples of 100 µs (idle left out, the last one stands for no time)')
  t.equal(s.busyUsPerRequest, 167)
  t.same(s.topSelf[0], { name: 'inject dist/core/inject.js:11', ms: 0.2, percent: 40 })
  const inclusive = Object.fromEntries(s.inclusive.map(e => [e.name.split(' ')[0], e.ms]))
  t.equal(inclusive.reviewAdmission, 0.3, 'its own sample and inject\'s')
  t.equal(inclusive.inject, 0.2)
  const areas = Object.fromEntries(s.byArea.map(e => [e.name, e.ms]))
  t.same(areas, { 'src/core': 0.2, 'src/admission': 0.1, fastify: 0.1, gc: 0.1 })
})

t.test('a window keeps only the samples taken during the load', async t => {
  // Samples fall at 1000, 1100, … 1600 µs; keep 1150..1450: samples 2, 3, 4 (ids 3, 5, 6).
  const s = summariseProfile(profile, 3, 'r', 8, { fromUs: 1150, toUs: 1450 })
  t.equal(s.busyMs, 0.3)
  t.same(s.topSelf.map(e => e.name.replace(/ .*\.js:\d+$/, '')).sort(), ['(garbage collector)', '_parse', 'reviewAdmission'])
})

t.test('the split by stage: each sample counted once, logging and metrics first, then the innermost stage', async t => {
  const dist = (file: string): string => `file://${repoRoot}dist/${file}`
  const { splitOf } = await import('../../bench/profile.js')
  const stack = (...frames: Array<ReturnType<typeof frame>>): Array<ReturnType<typeof frame>> => frames
  const handler = frame('', dist('http/server.js'), 89)
  t.equal(splitOf(stack(frame('decide', dist('core/policy.js')), frame('inject', dist('core/inject.js')), handler)), 'decide', 'decide inside inject')
  t.equal(splitOf(stack(frame('buildProxyContainer', dist('core/sidecar.js')), frame('inject', dist('core/inject.js')), handler)), 'inject')
  t.equal(splitOf(stack(frame('stringify'), frame('encodePatch', dist('core/patch.js')), handler)), 'encode')
  t.equal(splitOf(stack(frame('writeSync', 'node:fs'), frame('write', 'file:///x/node_modules/sonic-boom/index.js'), handler)), 'logging', 'a file write under pino is logging')
  t.equal(splitOf(stack(frame('observe', 'file:///x/node_modules/prom-client/lib/histogram.js'), handler)), 'metrics')
  t.equal(splitOf(stack(frame('parse'), handler)), 'JSON.parse', 'the builtin')
  t.equal(splitOf(stack(frame('_parse', 'file:///x/node_modules/secure-json-parse/index.js'))), 'JSON.parse', 'JSON.parse inlined in secure-json-parse')
  t.equal(splitOf(stack(frame('RegExp: __proto__'), frame('_parse', 'file:///x/node_modules/secure-json-parse/index.js'))), 'shape check', 'its prototype scans')
  t.equal(splitOf(stack(frame('inspectTree', dist('admission/parse.js')), frame('parseReview', dist('admission/parse.js')), handler)), 'shape check')
  t.equal(splitOf(stack(frame('walk', dist('core/pod-shape.js')), frame('podToInject', dist('admission/review.js')), frame('onEnd', 'file:///x/node_modules/fastify/lib/content-type-parser.js'))), 'shape check', 'the pod shape walk, inside the body\'s end callback')
  t.equal(splitOf(stack(frame('writeUtf8String'), frame('onSendEnd', 'file:///x/node_modules/fastify/lib/reply.js'))), 'response write')
  t.equal(splitOf(stack(frame('(garbage collector)'))), 'GC')
  t.equal(splitOf(stack(frame('(program)'))), 'TLS/HTTP')
  t.equal(splitOf([]), 'other')
  const summary = summariseProfile(profile, 4, 'small', 8)
  const split = new Map((summary.split ?? []).map(e => [e.name, e.ms]))
  t.equal(split.get('inject'), 0.2, 'two inject samples (the last sample stands for no time)')
  t.equal(split.get('other'), 0.1, 'reviewAdmission itself is no named stage')
  t.equal(split.get('JSON.parse'), 0.1)
  t.equal(split.get('GC'), 0.1)
  t.equal([...split.values()].reduce((a, b) => a + b, 0), summary.busyMs, 'the split adds up to the busy time')
})

t.test('our body parser is JSON.parse in the split', async t => {
  const { splitOf } = await import('../../bench/profile.js')
  t.equal(splitOf([frame('parseJsonBody', `file://${repoRoot}dist/http/server.js`, 70), frame('rawBody', 'file:///x/node_modules/fastify/lib/content-type-parser.js')]), 'JSON.parse')
})
