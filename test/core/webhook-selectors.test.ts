import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { matchWebhook, webhookEntries } from '../../src/core/webhook-selectors.js'

const manifest = parse(readFileSync(join(import.meta.dirname, '..', '..', 'manifests', 'mutating-webhook.yaml'), 'utf8')) as {
  webhooks: Array<{ name: string, namespaceSelector: unknown, objectSelector: unknown }>
}

t.test('the selectors the offline CLI applies are those manifests/ installs', async t => {
  const installed = new Map(manifest.webhooks.map(w => [w.name, w]))
  const ours = webhookEntries('')
  t.same([...installed.keys()].sort(), ours.map(e => e.name).sort(), 'the same entries')
  for (const entry of ours) {
    const w = installed.get(entry.name)
    t.same(w?.namespaceSelector, entry.namespaceSelector, `${entry.name} namespaceSelector`)
    t.same(w?.objectSelector, entry.objectSelector, `${entry.name} objectSelector`)
  }
})

t.test('Istio’s effective matrix (docs/istio-compatibility.md)', async t => {
  const rows: Array<[Record<string, string>, Record<string, string>, string | undefined]> = [
    [{ 'istio-injection': 'enabled' }, {}, 'namespace.sidecar-injector.istio.io'],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'true' }, 'namespace.sidecar-injector.istio.io'],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }, undefined],
    [{ 'istio-injection': 'disabled' }, { 'sidecar.istio.io/inject': 'true' }, undefined],
    [{ 'istio.io/rev': 'default' }, {}, 'rev.namespace.sidecar-injector.istio.io'],
    [{ 'istio.io/rev': 'default' }, { 'sidecar.istio.io/inject': 'false' }, undefined],
    [{}, { 'sidecar.istio.io/inject': 'true' }, 'object.sidecar-injector.istio.io'],
    [{}, { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'default' }, 'rev.object.sidecar-injector.istio.io'],
    [{}, { 'istio.io/rev': 'default' }, 'rev.object.sidecar-injector.istio.io'],
    [{}, {}, undefined],
    [{}, { 'sidecar.istio.io/inject': 'false' }, undefined],
    [{ 'istio-injection': 'enabled', 'istio.io/rev': 'canary' }, {}, 'namespace.sidecar-injector.istio.io']
  ]
  for (const [ns, pod, entry] of rows) {
    t.equal(matchWebhook('apps', ns, pod, '').entry, entry, `namespace ${JSON.stringify(ns)}, pod ${JSON.stringify(pod)}`)
  }
  t.equal(matchWebhook('kube-system', { 'istio-injection': 'enabled' }, {}, '').entry, undefined, 'system namespaces are never selected')
  t.equal(matchWebhook('sidecar-injector', { 'istio-injection': 'enabled' }, {}, '').entry, undefined, 'nor the injector’s own')
  t.equal(matchWebhook('apps', { 'istio.io/rev': 'canary' }, {}, 'canary').entry, 'rev.namespace.sidecar-injector.istio.io', 'a revision')
  t.equal(matchWebhook('apps', { 'istio-injection': 'enabled' }, {}, 'canary').entry, undefined, 'istio-injection selects only the default revision')
})
