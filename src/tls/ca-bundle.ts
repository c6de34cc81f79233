// Keeps our CA bundle in the caBundle of every webhook entry of our MutatingWebhookConfiguration that
// ends with the injector's suffix (Istio patches only entries ending with `sidecar-injector.istio.io`,
// pkg/webhooks/webhookpatch.go; Vault patches only webhooks[0], which breaks multi-entry configs).
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node'
import type { JsonPatchOperation, KubeApi } from '../kube/api.js'

export type PatchOutcome = 'patched' | 'unchanged' | 'missing'

function encode (bundle: string): string {
  return Buffer.from(bundle, 'utf8').toString('base64')
}

/** The JSON patch that sets caBundle on each of our entries that lacks it; [] when all agree. */
export function caBundleOperations (config: V1MutatingWebhookConfiguration, bundle: string, suffix: string): JsonPatchOperation[] {
  const want = encode(bundle)
  const operations: JsonPatchOperation[] = []
  ;(config.webhooks ?? []).forEach((webhook, index) => {
    if (!webhook.name.endsWith(suffix)) return
    // caBundle is a []byte in Go: base64 in JSON, and a string in client-node's model.
    if (webhook.clientConfig.caBundle === want) return
    // The `test` makes the patch fail (and be retried on a fresh read) if entries moved in between.
    operations.push({ op: 'test', path: `/webhooks/${index}/name`, value: webhook.name })
    operations.push({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: want })
  })
  return operations
}

/** Whether any of our entries carries a caBundle other than `bundle`. */
export function needsCaBundle (config: V1MutatingWebhookConfiguration, bundle: string, suffix: string): boolean {
  return caBundleOperations(config, bundle, suffix).length > 0
}

const maxAttempts = 5

/** Reads the configuration and patches the entries that differ. Idempotent: every replica may run it. */
export async function patchCaBundle (
  api: Pick<KubeApi, 'readWebhookConfiguration' | 'patchWebhookConfiguration'>,
  name: string,
  bundle: string,
  suffix: string
): Promise<PatchOutcome> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const config = await api.readWebhookConfiguration(name)
    if (config === undefined) return 'missing'
    const operations = caBundleOperations(config, bundle, suffix)
    if (operations.length === 0) return 'unchanged'
    const result = await api.patchWebhookConfiguration(name, operations)
    if (result === undefined) return 'missing'
    if (result !== 'conflict') return 'patched'
  }
  throw new Error(`MutatingWebhookConfiguration ${name} kept changing under ${maxAttempts} attempts to patch its caBundle`)
}
