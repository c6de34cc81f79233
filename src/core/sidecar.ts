// The containers and volumes of the `istio` profile: what istiod's sidecar template renders
// (docs/istio-compatibility.md), built as typed data rather than from a template language.
import type { V1Container, V1EnvVar, V1ResourceRequirements, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { formatCaptureArgs } from '../capture/args.js'
import { labels } from './annotations.js'
import type { SidecarSettings } from './settings.js'
import type { Pod, Resources } from './types.js'
import type { Workload } from './workload.js'

export const proxyName = 'istio-proxy'
export const initName = 'istio-init'

export const volumeNames = {
  workloadSocket: 'workload-socket',
  credentialSocket: 'credential-socket',
  workloadCerts: 'workload-certs',
  customBootstrap: 'custom-bootstrap-volume',
  envoy: 'istio-envoy',
  data: 'istio-data',
  podinfo: 'istio-podinfo',
  token: 'istio-token',
  caCert: 'istiod-ca-cert',
  caCrl: 'istio-ca-crl'
} as const

/** What the init container captures, for capture's own writer (src/capture/args.ts). */
export function buildCaptureArgs (settings: SidecarSettings): string[] {
  const c = settings.capture
  return formatCaptureArgs({
    envoyPort: settings.ports.outbound,
    inboundCapturePort: settings.ports.inbound,
    inboundTunnelPort: settings.ports.tunnel,
    proxyUid: settings.captureUID,
    // Only a configured gid differs from the uid; a user's proxy runAsUser/runAsGroup do not add -g,
    // which istio-iptables then defaults to the -u uid, as with Istio's own injection.
    ...(settings.proxyGID === settings.proxyUID ? {} : { proxyGid: settings.proxyGID }),
    interceptionMode: 'REDIRECT',
    outboundCidrs: c.includeOutboundIPRanges,
    outboundExcludeCidrs: c.excludeOutboundIPRanges,
    inboundPorts: c.includeInboundPorts,
    inboundExcludePorts: excludedInboundPorts(settings),
    outboundPorts: c.includeOutboundPorts,
    outboundExcludePorts: c.excludeOutboundPorts,
    virtualInterfaces: c.virtualInterfaces,
    excludeInterfaces: c.excludeInterfaces,
    logLevel: settings.agentLogLevel
  })
}

/** `-d`: Prometheus and health ports, the pod's excludes, then the status port unless listed or 0. */
export function excludedInboundPorts (settings: SidecarSettings): string {
  const ports = [String(settings.ports.prometheus), String(settings.ports.health)]
  for (const port of settings.capture.excludeInboundPorts.split(',')) {
    if (port.trim() !== '') ports.push(port.trim())
  }
  const status = String(settings.statusPort)
  if (settings.statusPort !== 0 && !ports.includes(status)) ports.push(status)
  return ports.join(',')
}

function withPullPolicy (container: V1Container, settings: SidecarSettings): V1Container {
  if (settings.imagePullPolicy !== '') container.imagePullPolicy = settings.imagePullPolicy
  return container
}

export function buildInitContainer (settings: SidecarSettings): V1Container {
  const flags = buildCaptureArgs(settings)
  const program = settings.initCommand === 'istio-iptables'
    ? { args: ['istio-iptables', ...flags] }
    : { command: ['sidecar-injector', 'capture'], args: flags }
  const container: V1Container = {
    name: initName,
    image: settings.initImage,
    ...program,
    resources: copyResources(settings.resources),
    // iptables needs NET_ADMIN and NET_RAW, as root, in the pod's network namespace only.
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0
    }
  }
  const env = Object.entries(settings.proxyMetadata).map(([name, value]) => ({ name, value }))
  if (env.length > 0) container.env = env
  return withPullPolicy(container, settings)
}

function copyResources (resources: Resources): V1ResourceRequirements {
  const out: V1ResourceRequirements = {}
  if (resources.requests !== undefined) out.requests = { ...resources.requests } as Record<string, string>
  if (resources.limits !== undefined) out.limits = { ...resources.limits } as Record<string, string>
  return out
}

function fieldEnv (name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } }
}

function resourceEnv (name: string, resource: string): V1EnvVar {
  return { name, valueFrom: { resourceFieldRef: { divisor: '1', resource } } }
}

interface ProxyInputs {
  settings: SidecarSettings
  pod: Pod
  workload: Workload
}

function proxyEnv ({ settings, pod, workload }: ProxyInputs): V1EnvVar[] {
  const appContainers = (pod.spec?.containers ?? []).filter(c => c.name !== proxyName)
  const podPorts = appContainers.flatMap(c => c.ports ?? [])
  const env: V1EnvVar[] = [
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: settings.mesh.caAddress },
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('INSTANCE_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('HOST_IP', 'status.hostIP'),
    resourceEnv('ISTIO_CPU_LIMIT', 'limits.cpu'),
    { name: 'PROXY_CONFIG', value: `${JSON.stringify(proxyConfigOf(settings))}\n` },
    { name: 'ISTIO_META_POD_PORTS', value: JSON.stringify(podPorts) },
    { name: 'ISTIO_META_APP_CONTAINERS', value: appContainers.map(c => c.name).join(',') },
    resourceEnv('GOMEMLIMIT', 'limits.memory'),
    // The agent and Envoy size their thread pools from it rather than from the node's cores.
    resourceEnv('GOMAXPROCS', 'limits.cpu'),
    { name: 'ISTIO_META_CLUSTER_ID', value: settings.mesh.clusterId },
    fieldEnv('ISTIO_META_NODE_NAME', 'spec.nodeName'),
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: settings.interceptionMode }
  ]
  const workloadName = pod.metadata?.labels?.[labels.workloadName] ?? ''
  if (workloadName !== '' || workload.name !== '') env.push({ name: 'ISTIO_META_WORKLOAD_NAME', value: workloadName !== '' ? workloadName : workload.name })
  if (workload.owner !== '') env.push({ name: 'ISTIO_META_OWNER', value: workload.owner })
  if (settings.bootstrapOverride !== '') {
    env.push({ name: 'ISTIO_BOOTSTRAP_OVERRIDE', value: '/etc/istio/custom-bootstrap/custom_bootstrap.json' })
  }
  env.push({ name: 'ISTIO_META_MESH_ID', value: settings.mesh.trustDomain })
  env.push({ name: 'TRUST_DOMAIN', value: settings.mesh.trustDomain })
  for (const [name, value] of Object.entries(settings.proxyMetadata)) env.push({ name, value })
  return env
}

/**
 * PROXY_CONFIG carries the ProxyConfig fields that differ from the defaults, as istiod writes it: the
 * pod's proxy.istio.io/config fields, with hold, interception mode and metadata as they were resolved
 * from the config and the annotations.
 */
function proxyConfigOf (settings: SidecarSettings): Record<string, unknown> {
  const { holdApplicationUntilProxyStarts: podHold, interceptionMode: _mode, proxyMetadata: _metadata, ...out } = settings.proxyConfigFields
  // An explicit `false` in the pod's ProxyConfig is written as istiod writes it, unless the config holds anyway.
  if (settings.hold) out.holdApplicationUntilProxyStarts = true
  else if (podHold !== undefined) out.holdApplicationUntilProxyStarts = podHold
  if (settings.proxyConfigInterceptionMode !== 'REDIRECT') out.interceptionMode = settings.proxyConfigInterceptionMode
  if (Object.keys(settings.proxyMetadata).length > 0) out.proxyMetadata = settings.proxyMetadata
  return out
}

function proxyMounts (settings: SidecarSettings): V1VolumeMount[] {
  const mounts: V1VolumeMount[] = [
    { name: volumeNames.workloadSocket, mountPath: '/var/run/secrets/workload-spiffe-uds' },
    { name: volumeNames.credentialSocket, mountPath: '/var/run/secrets/credential-uds' },
    { name: volumeNames.workloadCerts, mountPath: settings.certificates.workloadCertDir },
    { name: volumeNames.caCert, mountPath: '/var/run/secrets/istio' },
    { name: volumeNames.caCrl, mountPath: '/var/run/secrets/istio/crl' },
    { name: volumeNames.data, mountPath: '/var/lib/istio/data' }
  ]
  if (settings.bootstrapOverride !== '') {
    mounts.push({ name: volumeNames.customBootstrap, mountPath: '/etc/istio/custom-bootstrap' })
  }
  mounts.push(
    { name: volumeNames.envoy, mountPath: '/etc/istio/proxy' },
    { name: volumeNames.token, mountPath: '/var/run/secrets/tokens' },
    { name: volumeNames.podinfo, mountPath: '/etc/istio/pod' },
    ...settings.userVolumeMounts.map(m => ({ ...m }))
  )
  return mounts
}

export function buildProxyContainer (inputs: ProxyInputs): V1Container {
  const { settings } = inputs
  const container: V1Container = {
    name: proxyName,
    image: settings.proxyImage,
    args: [
      'proxy', 'sidecar',
      '--domain', `$(POD_NAMESPACE).svc.${settings.clusterDomain}`,
      `--proxyLogLevel=${settings.logLevel}`,
      `--proxyComponentLogLevel=${settings.componentLogLevel}`,
      `--log_output_level=${settings.agentLogLevel}`
    ],
    env: proxyEnv(inputs),
    ports: [{ containerPort: settings.ports.prometheus, name: 'http-envoy-prom', protocol: 'TCP' }],
    resources: copyResources(settings.resources),
    securityContext: proxySecurityContext(settings),
    volumeMounts: proxyMounts(settings)
  }
  if (settings.native) container.restartPolicy = 'Always'
  // In native mode the startup probe holds app containers back until Envoy is ready; in classic
  // mode with hold, `pilot-agent wait` in postStart does (kubelet starts containers in order).
  if (settings.native) {
    container.lifecycle = { preStop: { exec: { command: ['pilot-agent', 'request', `--debug-port=${settings.statusPort}`, 'POST', 'drain'] } } }
  } else if (settings.hold) {
    container.lifecycle = { postStart: { exec: { command: ['pilot-agent', 'wait'] } } }
  }
  if (settings.statusPort !== 0) {
    const ready = { httpGet: { path: '/healthz/ready', port: settings.ports.health } }
    container.readinessProbe = { ...ready, ...settings.readiness, timeoutSeconds: 3 }
    container.startupProbe = { httpGet: { ...ready.httpGet }, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 }
  }
  return withPullPolicy(container, settings)
}

function proxySecurityContext (settings: SidecarSettings): V1SecurityContext {
  if (settings.capNetBindService) {
    // Binding ports below 1024 needs NET_BIND_SERVICE, which a non-root user only gets as root here.
    return {
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsGroup: settings.proxyGID,
      runAsNonRoot: false,
      runAsUser: 0
    }
  }
  return {
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsGroup: settings.proxyGID,
    runAsNonRoot: true,
    runAsUser: settings.proxyUID
  }
}

export function buildVolumes (settings: SidecarSettings): V1Volume[] {
  const k = settings.certificates
  const volumes: V1Volume[] = [
    // emptyDir written as {} explicitly: the API server would default a null one, which a diff sees.
    { name: volumeNames.workloadSocket, emptyDir: {} },
    { name: volumeNames.credentialSocket, emptyDir: {} },
    { name: volumeNames.workloadCerts, emptyDir: {} }
  ]
  if (settings.bootstrapOverride !== '') {
    volumes.push({ name: volumeNames.customBootstrap, configMap: { name: settings.bootstrapOverride } })
  }
  volumes.push(
    { name: volumeNames.envoy, emptyDir: { medium: 'Memory' } },
    { name: volumeNames.data, emptyDir: {} },
    {
      name: volumeNames.podinfo,
      downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }
        ]
      }
    },
    {
      name: volumeNames.token,
      projected: {
        sources: [{ serviceAccountToken: { audience: k.tokenAudience, expirationSeconds: k.tokenExpirationSeconds, path: 'istio-token' } }]
      }
    },
    { name: volumeNames.caCert, configMap: { name: k.caRootConfigMap } },
    { name: volumeNames.caCrl, configMap: { name: k.crlConfigMap, optional: true } },
    ...settings.userVolumes.map(v => ({ ...v }))
  )
  return volumes
}
