// The Prometheus metrics merge (docs/istio-compatibility.md): the agent serves the app's metrics merged
// with Envoy's on the status port, so the pod's scrape annotations are pointed at the agent and the
// app's own scrape settings are handed to it in ISTIO_PROMETHEUS_ANNOTATIONS.
import { annotations } from './annotations.js'
import { parseGoBool } from '../capture/values.js'
import type { SidecarSettings } from './settings.js'
import type { AnnotationProblem } from './types.js'

export const agentMetricsPath = '/stats/prometheus'

// Prometheus sanitises annotation names (non-[a-zA-Z0-9_] → _), so prometheus.io/port,
// prometheus.io.port and prometheus-io/port are one setting.
function sanitise (key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_')
}

const sanitised = {
  scrape: sanitise(annotations.prometheusScrape),
  port: sanitise(annotations.prometheusPort),
  path: sanitise(annotations.prometheusPath)
}

export interface MergeOutcome {
  /** The pod's annotations after the merge (the same object when nothing changes). */
  annotations: Record<string, string>
  /** The app's scrape settings for the agent, or '' when it had none. */
  scrapeJson: string
  problems: AnnotationProblem[]
}

export function mergePrometheus (podAnnotations: Record<string, string>, settings: SidecarSettings): MergeOutcome {
  const unchanged = { annotations: podAnnotations, scrapeJson: '', problems: [] }
  const found: { scrape?: [string, string], port?: [string, string], path?: [string, string] } = {}
  for (const [key, value] of Object.entries(podAnnotations)) {
    const s = sanitise(key)
    if (s === sanitised.scrape) found.scrape = [key, value]
    else if (s === sanitised.port) found.port = [key, value]
    else if (s === sanitised.path) found.path = [key, value]
  }
  if (!settings.prometheusMerge || (found.scrape !== undefined && parseGoBool(found.scrape[1]) === false)) return unchanged
  const agentPort = String(settings.ports.agentStatus)
  // Already pointing at the agent: merged before (re-injection).
  if (found.port?.[1] === agentPort) return unchanged

  const problems: AnnotationProblem[] = []
  if (found.port !== undefined) {
    const [key, value] = found.port
    const port = Number(value)
    if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
      problems.push({ annotation: key, value, reason: 'must be a port from 1 to 65535' })
    } else if (settings.reservedPorts.has(port)) {
      problems.push({ annotation: key, value, reason: 'is a port reserved by the sidecar (15000–15090)' })
    }
  }
  const scrape: Record<string, string> = {}
  if (found.scrape !== undefined) scrape.scrape = found.scrape[1]
  if (found.path !== undefined) scrape.path = found.path[1]
  if (found.port !== undefined) scrape.port = found.port[1]

  const merged: Record<string, string> = {}
  for (const [key, value] of Object.entries(podAnnotations)) {
    const s = sanitise(key)
    if (s !== sanitised.scrape && s !== sanitised.port && s !== sanitised.path) merged[key] = value
  }
  merged[annotations.prometheusScrape] = 'true'
  merged[annotations.prometheusPort] = agentPort
  merged[annotations.prometheusPath] = agentMetricsPath
  return { annotations: merged, scrapeJson: Object.keys(scrape).length > 0 ? JSON.stringify(scrape) : '', problems }
}
