// The last check before a pod is admitted with an init container: its exact args and env go through
// the capture command's own parser (src/capture/options.ts), so a pod the init container would refuse,
// and leave stuck in Init, is refused at admission instead, naming where the bad value came from.
// The annotations are checked one by one before (src/core/settings.ts) with the same value parsers;
// this catches what only shows once they are combined, such as capture variables in proxyMetadata.
import type { V1Container } from '@kubernetes/client-node'
import { parseCaptureOptions } from '../capture/options.js'
import type { CaptureProblem } from '../capture/options.js'
import { annotations } from './annotations.js'
import type { AnnotationProblem } from './types.js'

/** Where the value of each flag the core writes comes from, when a pod can set it. */
const flagSources: Readonly<Record<string, string>> = {
  'istio-service-cidr': annotations.includeOutboundIPRanges,
  'istio-service-exclude-cidr': annotations.excludeOutboundIPRanges,
  'istio-inbound-ports': annotations.includeInboundPorts,
  'istio-local-exclude-ports': annotations.excludeInboundPorts,
  'istio-outbound-ports': annotations.includeOutboundPorts,
  'istio-local-outbound-ports-exclude': annotations.excludeOutboundPorts,
  'istio-exclude-interfaces': annotations.excludeInterfaces,
  // A user-declared istio-proxy with its own runAsUser is also the uid the rules let through.
  'proxy-uid': 'spec.containers[istio-proxy].securityContext.runAsUser'
}

/**
 * Init containers (args and env) that passed, remembered: most pods get the same one, a pure function
 * of the config, and parsing it again was a fifth of the core's time per injection (BENCHMARKS.md,
 * issue 16). Bounded: emptied when full, so pods with their own capture annotations cannot grow it.
 */
const passed = new Set<string>()
const maxPassed = 256

export function checkInitCapture (init: V1Container, podAnnotations: Readonly<Record<string, string>>): AnnotationProblem[] {
  const args = init.args ?? []
  const pairs = (init.env ?? []).map(e => [e.name, e.value ?? ''] as const)
  // JSON: unambiguous whatever the values hold (a pod's proxyMetadata may carry any character).
  const key = JSON.stringify([args, pairs])
  if (passed.has(key)) return []
  const env = Object.fromEntries(pairs)
  // istio-iptables is the first arg when it is the program (initCommand: istio-iptables).
  const parsed = parseCaptureOptions(args[0] === 'istio-iptables' ? args.slice(1) : args, env)
  if (parsed.ok) {
    if (passed.size >= maxPassed) passed.clear()
    passed.add(key)
    return []
  }
  return parsed.problems.map(problem => toAnnotationProblem(problem, args, env, podAnnotations))
}

function toAnnotationProblem (
  problem: CaptureProblem, args: readonly string[], env: Readonly<Record<string, string>>, podAnnotations: Readonly<Record<string, string>>
): AnnotationProblem {
  const reason = `the init container would refuse it: ${problem.reason ?? problem.message}`
  if (problem.variable !== undefined) {
    // Capture variables reach the init container's env only through proxyMetadata.
    const fromPod = podAnnotations[annotations.proxyConfig]?.includes(problem.variable) === true
    return {
      annotation: fromPod ? `${annotations.proxyConfig} proxyMetadata.${problem.variable}` : `config proxy.proxyMetadata.${problem.variable}`,
      value: env[problem.variable] ?? '',
      reason
    }
  }
  const flag = problem.flag ?? ''
  const virtual = Object.hasOwn(podAnnotations, annotations.rerouteVirtualInterfaces) ? annotations.rerouteVirtualInterfaces : annotations.kubevirtInterfaces
  return {
    annotation: flag === 'kube-virt-interfaces' ? virtual : flagSources[flag] ?? `the injector config (--${flag})`,
    value: flagValue(args, flag),
    reason
  }
}

const shortNames: Readonly<Record<string, string>> = {
  'istio-service-cidr': '-i',
  'istio-service-exclude-cidr': '-x',
  'istio-inbound-ports': '-b',
  'istio-local-exclude-ports': '-d',
  'istio-outbound-ports': '-q',
  'istio-local-outbound-ports-exclude': '-o',
  'kube-virt-interfaces': '-k',
  'istio-exclude-interfaces': '-c',
  'proxy-uid': '-u',
  'proxy-gid': '-g'
}

function flagValue (args: readonly string[], flag: string): string {
  const at = args.indexOf(shortNames[flag] ?? `--${flag}`)
  return at >= 0 ? args[at + 1] ?? '' : ''
}
