// Which pods the API server sends to the webhook: the namespaceSelector/objectSelector pairs of the
// MutatingWebhookConfiguration in manifests/ (Istio's set, docs/istio-compatibility.md), as data. The
// webhook never reads namespace labels; the offline CLI uses this to answer as the cluster would.
// test/manifests cross-checks these entries against manifests/mutating-webhook.yaml.
import { labels } from './annotations.js'
import { revisionName, systemNamespaces } from './config.js'
import { matchesSelector } from './selectors.js'
import type { LabelSelector, LabelSelectorRequirement } from './types.js'

export interface WebhookEntry {
  name: string
  namespaceSelector: LabelSelector
  objectSelector: LabelSelector
}

/** The namespaces no entry selects: the injector's own (so it can always start) and the system ones. */
export const neverSelectedNamespaces = ['sidecar-injector', ...systemNamespaces]

const namespaceNameLabel = 'kubernetes.io/metadata.name'

export function webhookEntries (revision: string): WebhookEntry[] {
  const rev = revisionName(revision)
  const absent = (key: string): LabelSelectorRequirement => ({ key, operator: 'DoesNotExist' })
  const isIn = (key: string, ...values: string[]): LabelSelectorRequirement => ({ key, operator: 'In', values })
  const notIn = (key: string, ...values: string[]): LabelSelectorRequirement => ({ key, operator: 'NotIn', values })
  const notExcluded = notIn(namespaceNameLabel, ...neverSelectedNamespaces)
  const notOptedOut = notIn(labels.inject, 'false')
  const entries: WebhookEntry[] = [
    {
      name: 'rev.namespace.sidecar-injector.istio.io',
      namespaceSelector: { matchExpressions: [isIn(labels.rev, rev), absent(labels.injection), notExcluded] },
      objectSelector: { matchExpressions: [notOptedOut] }
    },
    {
      name: 'rev.object.sidecar-injector.istio.io',
      namespaceSelector: { matchExpressions: [absent(labels.rev), absent(labels.injection), notExcluded] },
      objectSelector: { matchExpressions: [notOptedOut, isIn(labels.rev, rev)] }
    }
  ]
  // The istio-injection label and the pod label alone select only the default revision.
  if (revision === '') {
    entries.push(
      {
        name: 'namespace.sidecar-injector.istio.io',
        namespaceSelector: { matchExpressions: [isIn(labels.injection, 'enabled'), notExcluded] },
        objectSelector: { matchExpressions: [notOptedOut] }
      },
      {
        name: 'object.sidecar-injector.istio.io',
        namespaceSelector: { matchExpressions: [absent(labels.injection), absent(labels.rev), notExcluded] },
        objectSelector: { matchExpressions: [isIn(labels.inject, 'true'), absent(labels.rev)] }
      }
    )
  }
  return entries
}

export interface WebhookMatch {
  /** The entry that sends the pod to the webhook, or undefined when none does. */
  entry: string | undefined
  message: string
}

/** Evaluates the entries as the API server does: the pod is sent when one entry's two selectors match. */
export function matchWebhook (namespace: string, namespaceLabels: Readonly<Record<string, string>>, podLabels: Readonly<Record<string, string>>, revision: string): WebhookMatch {
  // The API server labels every namespace with its name (kubernetes.io/metadata.name).
  const nsLabels = { ...namespaceLabels, [namespaceNameLabel]: namespace }
  for (const entry of webhookEntries(revision)) {
    if (matchesSelector(entry.namespaceSelector, nsLabels) && matchesSelector(entry.objectSelector, podLabels)) {
      return { entry: entry.name, message: `the webhook entry ${entry.name} selects the namespace and the pod` }
    }
  }
  return { entry: undefined, message: describeMiss(namespace, nsLabels, podLabels) }
}

function describeMiss (namespace: string, nsLabels: Record<string, string>, podLabels: Readonly<Record<string, string>>): string {
  if (neverSelectedNamespaces.includes(namespace)) return `namespace ${namespace} is excluded by every webhook entry`
  if (nsLabels[labels.injection] !== undefined && nsLabels[labels.injection] !== 'enabled') {
    return `namespace label ${labels.injection}=${nsLabels[labels.injection] ?? ''} selects no webhook entry (it beats any pod label)`
  }
  if (podLabels[labels.inject] === 'false') return `the pod label ${labels.inject}=false is excluded by every webhook entry`
  return `no webhook entry selects this namespace and pod (label the namespace ${labels.injection}=enabled or ${labels.rev}=<revision>, or the pod ${labels.inject}=true)`
}

/** Whether any entry's namespaceSelector selects the namespace (its pods may then be sent, by their labels). */
export function selectsNamespace (namespace: string, namespaceLabels: Readonly<Record<string, string>>, revision: string): boolean {
  const nsLabels = { ...namespaceLabels, [namespaceNameLabel]: namespace }
  return webhookEntries(revision).some(entry => matchesSelector(entry.namespaceSelector, nsLabels))
}
