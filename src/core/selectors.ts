// Label-selector matching with Kubernetes semantics (matchLabels AND matchExpressions).
import type { LabelSelector } from './types.js'

type Labels = Readonly<Record<string, string>>

export function isEmptySelector (selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0
}

/** Kubernetes semantics: an empty selector matches everything. */
export function matchesSelector (selector: LabelSelector, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key)
    switch (operator) {
      case 'In': if (!has || !values.includes(labels[key] as string)) return false; break
      case 'NotIn': if (has && values.includes(labels[key] as string)) return false; break
      case 'Exists': if (!has) return false; break
      case 'DoesNotExist': if (has) return false; break
    }
  }
  return true
}

/**
 * The first selector of the list that matches, ignoring empty selectors: Istio's never/always
 * selectors treat `{}` as matching nothing, unlike Kubernetes (docs/istio-compatibility.md).
 */
export function firstMatchingSelector (selectors: readonly LabelSelector[], labels: Labels): number {
  return selectors.findIndex(s => !isEmptySelector(s) && matchesSelector(s, labels))
}
