// The MutatingWebhookConfiguration the e2e suite registers: the one shipped in manifests/ (same
// webhook entries, rules and selectors), with clientConfig pointed at the local webhook
// (url + caBundle, as envtest's updateClientConfig does), and each namespaceSelector narrowed to
// the namespaces of one test process so that parallel test files never call each other's webhook.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V1LabelSelector, V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { runLabel } from './cluster.js'
import { repoRoot } from './repo.js'

export const manifestsDir = join(repoRoot, 'manifests')

/** The MutatingWebhookConfiguration of manifests/ (every *.yaml / *.yml file is read). */
export function manifestWebhookConfiguration (dir = manifestsDir): V1MutatingWebhookConfiguration {
  let files: string[]
  try {
    files = readdirSync(dir).filter(f => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort()
  } catch {
    files = []
  }
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const value: unknown = doc.toJS()
      if (typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'MutatingWebhookConfiguration') {
        return value as V1MutatingWebhookConfiguration
      }
    }
  }
  throw new Error(`no MutatingWebhookConfiguration in ${dir}/*.yaml: the e2e suite registers the shipped one`)
}

export interface LocalRegistration {
  name: string
  url: string
  caPem: string
  runId: string
  failurePolicy?: 'Fail' | 'Ignore'
  timeoutSeconds?: number
}

function narrowed (selector: V1LabelSelector | undefined, runId: string): V1LabelSelector {
  return { ...selector, matchLabels: { ...selector?.matchLabels, [runLabel]: runId } }
}

export function localWebhookConfiguration (registration: LocalRegistration,
  shipped: V1MutatingWebhookConfiguration = manifestWebhookConfiguration()): V1MutatingWebhookConfiguration {
  const caBundle = Buffer.from(registration.caPem).toString('base64')
  const webhooks = (shipped.webhooks ?? []).map((hook): V1MutatingWebhook => {
    const { service: _service, ...clientConfig } = hook.clientConfig
    return {
      ...hook,
      clientConfig: { ...clientConfig, url: registration.url, caBundle },
      namespaceSelector: narrowed(hook.namespaceSelector, registration.runId),
      ...(registration.failurePolicy === undefined ? {} : { failurePolicy: registration.failurePolicy }),
      ...(registration.timeoutSeconds === undefined ? {} : { timeoutSeconds: registration.timeoutSeconds })
    }
  })
  if (webhooks.length === 0) throw new Error('the shipped MutatingWebhookConfiguration has no webhooks')
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: registration.name, labels: { ...shipped.metadata?.labels, [runLabel]: registration.runId } },
    webhooks
  }
}

/** The injector config the manifests install (data."config.yaml" of a ConfigMap in manifests/), if any. */
export function shippedInjectorConfig (dir = manifestsDir): string | undefined {
  for (const file of readdirSync(dir).filter(f => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const value = doc.toJS() as { kind?: unknown, data?: Record<string, unknown> } | null
      const config = value?.kind === 'ConfigMap' ? value.data?.['config.yaml'] : undefined
      if (typeof config === 'string') return config
    }
  }
  return undefined
}

/** The revision the shipped webhooks select on with `istio.io/rev In [...]`, if any. */
export function shippedRevision (shipped: V1MutatingWebhookConfiguration = manifestWebhookConfiguration()): string | undefined {
  for (const hook of shipped.webhooks ?? []) {
    for (const selector of [hook.namespaceSelector, hook.objectSelector]) {
      const fromLabels = selector?.matchLabels?.['istio.io/rev']
      if (fromLabels !== undefined) return fromLabels
      const expression = selector?.matchExpressions?.find(e => e.key === 'istio.io/rev' && e.operator === 'In')
      if (expression?.values?.[0] !== undefined) return expression.values[0]
    }
  }
  return undefined
}
