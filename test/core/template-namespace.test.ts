// A namespace the pod template itself declares is kept (Istio's samples/security/spire does this);
// none is added where the template has none.
import t from 'tap'
import { parse } from 'yaml'
import { defaultConfig } from '../../src/core/config.js'
import { transformManifests } from '../../src/workloads/transform.js'

const deployment = (templateMeta: Record<string, unknown>): string => JSON.stringify({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'spire-server', namespace: 'spire' },
  spec: { template: { metadata: templateMeta, spec: { containers: [{ name: 'server', image: 's' }] } } }
})

t.test('the template keeps its own namespace, and gets none otherwise', async t => {
  for (const [meta, want] of [[{ namespace: 'spire', labels: { app: 's' } }, 'spire'], [{ labels: { app: 's' } }, undefined]] as const) {
    const out = transformManifests([{ name: 'd.yaml', text: deployment(meta) }], 'inject', { config: defaultConfig(), facts: {}, namespace: 'default', output: 'yaml' })
    t.same(out.errors, [])
    const doc = parse(out.output) as { spec: { template: { metadata: { namespace?: string } } } }
    t.equal(doc.spec.template.metadata.namespace, want)
  }
})
