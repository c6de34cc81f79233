// The baseline of the audit's scale measurement (test/e2e/audit-scale.test.ts): the same paginated
// pod list through the same client, with no analysis — so the ratio shows what the audit adds.
// Usage: node dist-e2e/lib/list-pods.js -n NAMESPACE --kubeconfig PATH
import { parseArgs } from 'node:util'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'

const { values } = parseArgs({ options: { namespace: { type: 'string', short: 'n' }, kubeconfig: { type: 'string' } } })
const kc = new KubeConfig()
kc.loadFromFile(values.kubeconfig ?? '')
const core = kc.makeApiClient(CoreV1Api)
let count = 0
let next: string | undefined
do {
  const page = await core.listNamespacedPod({ namespace: values.namespace ?? 'default', limit: 500, ...(next === undefined ? {} : { _continue: next }) })
  count += page.items.length
  next = page.metadata?._continue === '' ? undefined : page.metadata?._continue
} while (next !== undefined)
process.stdout.write(`${count}\n`)
