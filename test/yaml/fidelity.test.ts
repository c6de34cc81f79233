// YAML fidelity (docs/cli.md): manifests read as kubectl reads them (YAML 1.1 scalars), written so
// that kubectl reads them back the same, and only what injection touches rewritten. The real kubectl
// checks the same corpus in test/yaml/kubectl-judge.test.ts; these run everywhere.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { defaultConfig } from '../../src/core/config.js'
import { transformManifests } from '../../src/workloads/transform.js'
import type { ManifestOptions, Source } from '../../src/workloads/templates.js'
import { renderDocument, renderFlow } from '../../src/yaml/emit.js'
import { readDocuments } from '../../src/yaml/read.js'
import { needsQuotes, resolvePlain } from '../../src/yaml/scalars.js'
import { adversarialSources, specialSpellings } from '../helpers/adversarial-yaml.js'
import { fixturesDir, podsDir } from '../helpers/fixtures.js'

const repo = join(import.meta.dirname, '..', '..')
const options = (extra: Partial<ManifestOptions> = {}): ManifestOptions =>
  ({ config: defaultConfig(), facts: {}, namespace: 'default', output: 'yaml', ...extra })

function values (text: string): unknown[] {
  return [...readDocuments(text)].map(d => {
    if (d.error !== undefined) throw new Error(d.error.message)
    return d.value
  }).filter(v => v !== null)
}

function files (dir: string): Source[] {
  return readdirSync(dir).filter(f => /\.(ya?ml|json)$/.test(f)).sort()
    .map(f => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }))
}

t.test('plain scalars resolve as go-yaml v2 resolves them for kubectl', async t => {
  // Each value as the real kubectl 1.34 printed it (kubectl patch --local -o json).
  const cases: Array<[string, unknown]> = [
    ['0400', 256], ['0755', 493], ['0600', 384], ['0o17', 15], ['0x1F', 31], ['0X1f', 31], ['+0x10', 16], ['-0x1F', -31],
    ['0b101', 5], ['-0b11', -3], ['0B11', 3], ['1_000', 1000], ['1__0', 10], ['0_', 0], ['+_1', 1], ['0x_1F', 31], ['1_.5', 1.5], ['0.1_5', 0.15],
    ['1e3', 1000], ['1E3', 1000], ['1.e3', 1000], ['1e3_0', 1e30], ['.5', 0.5], ['-.5', -0.5], ['+.5', 0.5], ['1.', 1], ['0.', 0], ['-0', 0], ['+1', 1],
    ['08', 8], ['-08', -8], ['0778', 778], ['0009', 9], ['012345678901234567890123', 1.2345678901234568e+22], ['99999999999999999999', 1e20],
    ['18446744073709551615', 18446744073709552000], ['9223372036854775807', 2 ** 63], ['-9223372036854775809', -9223372036854776000],
    ['y', true], ['Y', true], ['yes', true], ['ON', true], ['On', true], ['n', false], ['NO', false], ['Off', false], ['True', true], ['FALSE', false],
    ['~', null], ['null', null], ['Null', null], ['NULL', null], ['', null],
    ['yEs', 'yEs'], ['oN', 'oN'], ['tRUE', 'tRUE'], ['nULL', 'nULL'], ['1:20', '1:20'], ['2001-12-14', '2001-12-14'], ['=', '='], ['<<', '<<'],
    ['._5', '._5'], ['0.5.5', '0.5.5'], ['1e', '1e'], ['1.5e', '1.5e'], ['0x', '0x'], ['0o', '0o'], ['0b', '0b'], ['1e400', '1e400'],
    ['0x1FFFFFFFFFFFFFFFFF', '0x1FFFFFFFFFFFFFFFFF'], ['.iNf', '.iNf'], ['NaN', 'NaN'], ['_1', '_1'], ['x', 'x']
  ]
  for (const [text, value] of cases) t.equal(resolvePlain(text), value, JSON.stringify(text))
  t.equal(resolvePlain('.inf'), Number.POSITIVE_INFINITY, 'infinity: read, then refused as JSON')
})

t.test('keys become JSON keys as sigs.k8s.io/yaml makes them; the last duplicate wins', async t => {
  const [doc] = values('{y: 1, Y: 2, yes: 3, n: 4, NO: 5, on: 6, Off: 7, True: 8, tRUE: 9, 0x10: a, 1e3: b, 1.5: c, 1e21: d, 1e6: e}')
  t.strictSame(doc, { true: 8, false: 7, tRUE: 9, 16: 'a', 1000: 'b', 1.5: 'c', 1e+21: 'd', '1e+06': 'e' })
  t.strictSame(values('{a: 1, <<: {a: 2, b: 3}}'), [{ a: 2, b: 3 }], 'a merge overrides the keys before it')
  t.strictSame(values('{<<: {a: 2, b: 3}, a: 1}'), [{ a: 1, b: 3 }], 'and is overridden by those after it')
  t.strictSame(values('{<<: [{a: 2}, {a: 3, c: 1}]}'), [{ a: 2, c: 1 }], 'in a list of merges, the first wins')
  t.strictSame(values('{a: !!binary aGVsbG8=, b: !!str 123, c: !!int "12", d: !!float "1", e: !!bool "yes", f: !foo 123}'), [{ a: 'hello', b: '123', c: 12, d: 1, e: true, f: '123' }])
  t.strictSame(values('{__proto__: {polluted: true}}').map(v => Object.getPrototypeOf(v) === Object.prototype), [true], '__proto__ is a key, not a prototype')
})

/** A test name in printable ASCII (a raw line separator would end tap's line). */
function label (text: string): string {
  return JSON.stringify(text.slice(0, 40)).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

t.test('every special spelling, written by us, reads back as the same string', async t => {
  for (const text of specialSpellings) {
    t.strictSame(values(renderDocument({ value: text, [text]: 'key' })), [{ value: text, [text]: 'key' }], label(text))
    t.strictSame(values(`a: ${renderFlow({ value: [text], [text]: 'key' })}\n`), [{ a: { value: [text], [text]: 'key' } }], `flow ${label(text)}`)
    if (typeof resolvePlain(text) !== 'string') t.ok(needsQuotes(text), `${label(text)} is quoted`)
  }
})

t.test('octal modes stay octal: 0400 is 256 in JSON and 0400 in YAML', async t => {
  const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: a}]\n  volumes:\n  - name: s\n    secret: {secretName: s, defaultMode: 0400}\n'
  const json = JSON.parse(transformManifests([{ name: 'p.yaml', text }], 'inject', options({ output: 'json' })).output) as { spec: { volumes: Array<{ secret?: { defaultMode: number } }> } }
  t.equal(json.spec.volumes[0]?.secret?.defaultMode, 256)
  const yaml = transformManifests([{ name: 'p.yaml', text }], 'inject', options()).output
  t.match(yaml, '    secret: {secretName: s, defaultMode: 0400}\n', 'the text is kept')
  t.match(yaml, 'istio-proxy')
})

t.test('the YAML output reads (YAML 1.1, as kubectl) as the JSON output says, for every input', async t => {
  const sources = [...files(join(fixturesDir, 'manifests')).filter(s => !/invalid|rejected/.test(s.name)), ...files(podsDir), ...files(join(repo, 'examples', 'bookinfo')), ...adversarialSources()]
  for (const source of sources) {
    for (const native of [false, true]) {
      const config = { ...defaultConfig(), nativeSidecars: native ? 'true' as const : 'false' as const }
      const yaml = transformManifests([source], 'inject', options({ config }))
      const json = JSON.parse(transformManifests([source], 'inject', options({ config, output: 'json' })).output) as Record<string, unknown>
      const read = values(yaml.output)
      t.strictSame(read.length === 1 ? read[0] : { apiVersion: 'v1', kind: 'List', items: read }, json, `${source.name} (${native ? 'native' : 'classic'})`)
    }
  }
})

t.test('comments, flow style and quoting outside the injected subtrees are kept', async t => {
  const bookinfo = transformManifests(files(join(repo, 'examples', 'bookinfo')).filter(s => s.name === 'bookinfo.yaml'), 'inject', options()).output
  t.match(bookinfo, "            # a job's sidecar must stop when the job ends: native sidecars do\n            sidecar.istio.io/nativeSidecar: 'true'", 'the CronJob\'s comment')
  const [deployment] = adversarialSources().filter(s => s.name.endsWith('deployment.yaml'))
  const out = transformManifests([deployment as Source], 'inject', options()).output
  for (const line of ['# strings: comments, flow style and quoting outside the injected subtrees stay as they are',
    '  labels: {app: strings, legacy: "yes", tier: \'on\'}   # flow style kept', '        legacy: "yes"     # a quoted YAML 1.1 boolean',
    '            defaultMode: 0400   # octal: 256, as kubectl reads it', '          configMap: {name: c, defaultMode: 0755}']) {
    t.ok(out.includes(`${line}\n`), line)
  }
})

t.test('inject then uninject gives back every input byte for byte where injection did not touch', async t => {
  // App probes are rewritten (and restored from the status annotation as values, not as text);
  // with the rewrite off, the whole text must come back.
  const config = { ...defaultConfig(), rewriteAppHTTPProbers: false }
  const sources = [...files(join(fixturesDir, 'manifests')).filter(s => !/invalid|rejected|injected|\.json/.test(s.name)), ...files(join(repo, 'examples', 'bookinfo')),
    ...files(podsDir).filter(s => !s.name.endsWith('.json')), ...adversarialSources()]
  for (const source of sources) {
    for (const native of [false, true]) {
      const c = { ...config, nativeSidecars: native ? 'true' as const : 'false' as const }
      const injected = transformManifests([source], 'inject', options({ config: c }))
      if (/kind: (Pod|Deployment)\b/.test(source.text)) t.not(injected.output, source.text, `${source.name} is injected`)
      const back = transformManifests([{ name: source.name, text: injected.output }], 'uninject', options()).output
      if (source.name === 'adversarial/anchors.yaml' || source.name === 'user-overrides.yaml') {
        // anchors: an alias in a subtree injection touches (template labels), and a container with a
        // merge key whose probe anchor another container uses: written out expanded. user-overrides:
        // the pod's own istio-proxy is merged with the injected one, and restored as a value.
        t.strictSame(values(back), values(source.text), `${source.name}: the same values`)
      } else if (source.name === 'adversarial/oddities.yaml') {
        t.equal(back, source.text.replace(', annotations: {}}', '}').replace(', volumes: []}', '}'), `${source.name}: uninject leaves out the empty annotations and volumes`)
      } else {
        t.equal(back, source.text, `${source.name} (${native ? 'native' : 'classic'})`)
      }
    }
  }
})

t.test('what kubectl cannot read is an error naming the document', async t => {
  const bad = (text: string): string[] => transformManifests([{ name: 'x.yaml', text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n${text}` }], 'inject', options()).errors
  t.match(bad('data: {a: .inf}\n'), [/^x\.yaml, document 1: at data\.a: '\.inf' has no JSON value/])
  t.match(bad('data: {~: a}\n'), [/^x\.yaml, document 1: at data: a null key/])
  t.match(bad('data: {a: "x\u007fy"}\n'), [/^x\.yaml:4:13: not valid YAML or JSON: control character U\+007F/])
  t.match(bad('data: {a: *nothing}\n'), [/^x\.yaml, document 1: at data\.a: the alias \*nothing refers to no anchor before it/])
  const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`).join('\n')}\n`
  t.match(bad(`data:\n  x: 1\nbomb:\n${bomb.replace(/^/gm, '  ')}`), [/expands to more than 1000000 nodes through aliases/], 'an alias bomb is refused, not expanded')
})
