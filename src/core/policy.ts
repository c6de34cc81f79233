// Whether a pod gets a sidecar: Istio's code-level policy (pkg/kube/inject/inject.go injectRequired),
// in its exact order. Namespace labels and revisions are decided earlier, by the webhook's selectors
// (manifests/); see src/core/webhook-selectors.ts for the offline equivalent.
import { annotations, labels } from './annotations.js'
import { firstMatchingSelector } from './selectors.js'
import type { Decision, InjectorConfig, Pod, RequestInfo } from './types.js'

export interface PolicyOutcome {
  decision: Decision
  warnings: string[]
}

/** The namespace the pod will live in: its own, or the request's (controllers send pods without one). */
export function podNamespace (pod: Pod, request: RequestInfo): string {
  return pod.metadata?.namespace ?? request.namespace ?? ''
}

export function decide (pod: Pod, request: RequestInfo, config: InjectorConfig): PolicyOutcome {
  const warnings: string[] = []
  const skip = (reason: Decision['reason'] & SkipCode, message: string): PolicyOutcome =>
    ({ decision: { inject: false, reason, message }, warnings })
  const reinjection = pod.metadata?.annotations?.[annotations.status] !== undefined
  const yes = (reason: InjectCode, message: string): PolicyOutcome =>
    ({ decision: { inject: true, reason, message, reinjection }, warnings })

  // Rewriting iptables in the host's network namespace would capture the node's traffic.
  if (pod.spec?.hostNetwork === true) return skip('host-network', 'the pod uses the host network (spec.hostNetwork is true)')
  const namespace = podNamespace(pod, request)
  if (config.ignoredNamespaces.includes(namespace)) {
    return skip('ignored-namespace', `namespace ${namespace} is never injected (ignoredNamespaces)`)
  }

  const explicit = explicitChoice(pod, warnings)
  if (explicit !== undefined) {
    const where = `${explicit.source} ${labels.inject}`
    return explicit.inject
      ? yes(`${explicit.source}-true`, `the pod's ${where} is "true"`)
      : skip(`${explicit.source}-false`, `the pod's ${where} is "false"`)
  }

  const podLabels = pod.metadata?.labels ?? {}
  const never = firstMatchingSelector(config.neverInjectSelector, podLabels)
  if (never >= 0) return skip('never-inject-selector', `the pod's labels match neverInjectSelector[${never}]`)
  const always = firstMatchingSelector(config.alwaysInjectSelector, podLabels)
  if (always >= 0) return yes('always-inject-selector', `the pod's labels match alwaysInjectSelector[${always}]`)

  return config.policy === 'enabled'
    ? yes('policy-enabled', 'the injection policy is enabled and nothing in the pod opts out')
    : skip('policy-disabled', 'the injection policy is disabled and nothing in the pod opts in')
}

type SkipCode = Extract<Decision, { inject: false }>['reason']
type InjectCode = Extract<Decision, { inject: true }>['reason']

/**
 * The pod's own choice: the label sidecar.istio.io/inject when the key is present (even empty),
 * otherwise the annotation of the same name. "true"/"false" decide; "" means no choice; anything
 * else (case matters) is ignored with a warning.
 */
function explicitChoice (pod: Pod, warnings: string[]): { source: 'label' | 'annotation', inject: boolean } | undefined {
  const podLabels = pod.metadata?.labels ?? {}
  const source = Object.hasOwn(podLabels, labels.inject) ? 'label' : 'annotation'
  const value = source === 'label' ? podLabels[labels.inject] : pod.metadata?.annotations?.[annotations.inject]
  if (value === undefined || value === '') return undefined
  if (value === 'true' || value === 'false') return { source, inject: value === 'true' }
  warnings.push(`ignoring invalid value '${value}' for ${source} ${labels.inject} (must be "true" or "false"); the default applies`)
  return undefined
}
