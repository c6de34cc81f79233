// The containers and volumes of the profiles that run Istio's proxy: what istiod's sidecar, gateway
// and grpc-agent templates render (docs/istio-compatibility.md), built as typed data rather than from a
// template language. src/core/profiles.ts chooses the profile and holds what the gRPC profiles add.
import type { V1Container, V1EnvVar, V1ResourceRequirements, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { formatCaptureArgs } from '../capture/args.js'
import { labels } from './annotations.js'
import type { ProxyKind } from './profiles.js'
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

/** The gRPC profiles' volumes: the agent's xDS socket and bootstrap (grpc-agent), grpc-simple's bootstrap. */
export const grpcVolumeNames = { xds: 'istio-xds', bootstrap: 'grpc-io-proxyless-bootstrap' } as const

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

export function fieldEnv (name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } }
}

function resourceEnv (name: string, resource: string): V1EnvVar {
  return { name, valueFrom: { resourceFieldRef: { divisor: '1', resource } } }
}

interface ProxyInputs {
  settings: SidecarSettings
  /** The pod's containers as the user wrote them, a declared istio-proxy included (its ports are the pod's too). */
  pod: Pod
  workload: Workload
}

/**
 * The agent's environment. The three proxy profiles share most of it; the gateway and the gRPC agent
 * name their workload from the owner only, and the gRPC agent runs without Envoy (DISABLE_ENVOY), so
 * that it has no Envoy sizing, no interception mode, and no DNS capture.
 */
function proxyEnv ({ settings, pod, workload }: ProxyInputs, kind: Exclude<ProxyKind, 'none'>): V1EnvVar[] {
  const containers = pod.spec?.containers ?? []
  const appContainers = containers.filter(c => c.name !== proxyName)
  const podPorts = containers.flatMap(c => c.ports ?? [])
  const grpc = kind === 'grpc-agent'
  const env: V1EnvVar[] = [
    ...(grpc ? [{ name: 'ISTIO_META_GENERATOR', value: 'grpc' }, { name: 'OUTPUT_CERTS', value: '/var/lib/istio/data' }] : []),
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: settings.mesh.caAddress },
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('INSTANCE_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('HOST_IP', 'status.hostIP'),
    ...(grpc ? [] : [resourceEnv('ISTIO_CPU_LIMIT', 'limits.cpu')]),
    { name: 'PROXY_CONFIG', value: `${JSON.stringify(proxyConfigOf(settings))}\n` },
    { name: 'ISTIO_META_POD_PORTS', value: JSON.stringify(podPorts) },
    // A gateway has no app container: the variable without a value, as the API server stores an empty one.
    appContainers.length > 0 ? { name: 'ISTIO_META_APP_CONTAINERS', value: appContainers.map(c => c.name).join(',') } : { name: 'ISTIO_META_APP_CONTAINERS' },
    // The agent and Envoy size their thread pools from it rather than from the node's cores.
    ...(grpc ? [] : [resourceEnv('GOMEMLIMIT', 'limits.memory'), resourceEnv('GOMAXPROCS', 'limits.cpu')]),
    { name: 'ISTIO_META_CLUSTER_ID', value: settings.mesh.clusterId },
    fieldEnv('ISTIO_META_NODE_NAME', 'spec.nodeName')
  ]
  if (kind === 'sidecar') env.push({ name: 'ISTIO_META_INTERCEPTION_MODE', value: settings.interceptionMode })
  // A gateway's interception mode is the ProxyConfig's: it captures nothing, the annotation is for sidecars.
  if (kind === 'gateway') env.push({ name: 'ISTIO_META_INTERCEPTION_MODE', value: settings.proxyConfigInterceptionMode })
  const workloadName = kind === 'sidecar' ? pod.metadata?.labels?.[labels.workloadName] ?? '' : ''
  if (workloadName !== '' || workload.name !== '') env.push({ name: 'ISTIO_META_WORKLOAD_NAME', value: workloadName !== '' ? workloadName : workload.name })
  if (workload.owner !== '') env.push({ name: 'ISTIO_META_OWNER', value: workload.owner })
  if (settings.bootstrapOverride !== '' && !grpc) {
    env.push({ name: 'ISTIO_BOOTSTRAP_OVERRIDE', value: '/etc/istio/custom-bootstrap/custom_bootstrap.json' })
  }
  env.push({ name: 'ISTIO_META_MESH_ID', value: settings.mesh.trustDomain })
  env.push({ name: 'TRUST_DOMAIN', value: settings.mesh.trustDomain })
  for (const [name, value] of Object.entries(settings.proxyMetadata)) env.push({ name, value })
  if (grpc) {
    // The gRPC client resolves xds:/// names itself: no DNS proxying, and no Envoy to start.
    env.push({ name: 'ISTIO_META_DNS_CAPTURE', value: 'false' }, { name: 'DISABLE_ENVOY', value: 'true' })
  }
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

/**
 * The sidecar's mounts. The gateway has no revocation list and no user volumes (Istio's gateway template
 * has neither); the gRPC agent has no credential socket, no revocation list and no custom bootstrap, and
 * shares /etc/istio/proxy with the app as istio-xds.
 */
function proxyMounts (settings: SidecarSettings, kind: Exclude<ProxyKind, 'none'> = 'sidecar'): V1VolumeMount[] {
  const grpc = kind === 'grpc-agent'
  const mounts: V1VolumeMount[] = [
    { name: volumeNames.workloadSocket, mountPath: '/var/run/secrets/workload-spiffe-uds' },
    ...(grpc ? [] : [{ name: volumeNames.credentialSocket, mountPath: '/var/run/secrets/credential-uds' }]),
    { name: volumeNames.workloadCerts, mountPath: settings.certificates.workloadCertDir },
    { name: volumeNames.caCert, mountPath: '/var/run/secrets/istio' },
    ...(kind === 'sidecar' ? [{ name: volumeNames.caCrl, mountPath: '/var/run/secrets/istio/crl' }] : []),
    { name: volumeNames.data, mountPath: '/var/lib/istio/data' }
  ]
  if (settings.bootstrapOverride !== '' && !grpc) {
    mounts.push({ name: volumeNames.customBootstrap, mountPath: '/etc/istio/custom-bootstrap' })
  }
  mounts.push(
    { name: grpc ? grpcVolumeNames.xds : volumeNames.envoy, mountPath: '/etc/istio/proxy' },
    { name: volumeNames.token, mountPath: '/var/run/secrets/tokens' },
    { name: volumeNames.podinfo, mountPath: '/etc/istio/pod' },
    ...(kind === 'gateway' ? [] : settings.userVolumeMounts.map(m => ({ ...m })))
  )
  return mounts
}

function agentArgs (settings: SidecarSettings, role: 'sidecar' | 'router'): string[] {
  return [
    'proxy', role,
    '--domain', `$(POD_NAMESPACE).svc.${settings.clusterDomain}`,
    `--proxyLogLevel=${settings.logLevel}`,
    `--proxyComponentLogLevel=${settings.componentLogLevel}`,
    `--log_output_level=${settings.agentLogLevel}`
  ]
}

/** The istio-proxy container of the pod's proxy profile. */
export function buildProxyContainer (inputs: ProxyInputs, kind: Exclude<ProxyKind, 'none'> = 'sidecar'): V1Container {
  if (kind === 'gateway') return buildGatewayContainer(inputs)
  if (kind === 'grpc-agent') return buildGrpcAgentContainer(inputs)
  const { settings } = inputs
  const container: V1Container = {
    name: proxyName,
    image: settings.proxyImage,
    args: agentArgs(settings, 'sidecar'),
    env: proxyEnv(inputs, 'sidecar'),
    ports: [{ containerPort: settings.ports.prometheus, name: 'http-envoy-prom', protocol: 'TCP' }],
    resources: copyResources(settings.resources),
    securityContext: proxySecurityContext(settings),
    volumeMounts: proxyMounts(settings, 'sidecar')
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

/** Istio's gateway readiness probe takes the install's values, not the pod's readiness annotations. */
const gatewayReadiness = { initialDelaySeconds: 0, periodSeconds: 15, failureThreshold: 4 }

/**
 * gateway: Envoy is the pod's main container (`proxy router`), so it is a regular container in either
 * sidecar mode, with no init container and no capture. The gateway's own Deployment declares istio-proxy
 * (`image: auto`), and its fields (ports, resources, securityContext) are merged over these.
 */
function buildGatewayContainer (inputs: ProxyInputs): V1Container {
  const { settings } = inputs
  const mounts = proxyMounts(settings, 'gateway')
  return withPullPolicy({
    name: proxyName,
    image: settings.proxyImage,
    ports: [{ containerPort: settings.ports.prometheus, protocol: 'TCP', name: 'http-envoy-prom' }],
    args: agentArgs(settings, 'router'),
    securityContext: { runAsUser: settings.proxyUID, runAsGroup: settings.proxyGID },
    env: proxyEnv(inputs, 'gateway'),
    readinessProbe: { httpGet: { path: '/healthz/ready', port: settings.ports.health }, ...gatewayReadiness, timeoutSeconds: 3 },
    volumeMounts: mounts
  }, settings)
}

/**
 * grpc-agent: proxyless gRPC. The agent runs without Envoy and serves the app its xDS bootstrap and
 * certificates through the istio-xds volume; nothing is captured. The app waits for it (postStart).
 */
function buildGrpcAgentContainer (inputs: ProxyInputs): V1Container {
  const { settings } = inputs
  const status = settings.ports.agentStatus
  const container: V1Container = {
    name: proxyName,
    image: settings.proxyImage,
    ports: [{ containerPort: status, protocol: 'TCP', name: 'mesh-metrics' }],
    args: agentArgs(settings, 'sidecar'),
    lifecycle: { postStart: { exec: { command: ['pilot-agent', 'wait', `--url=http://localhost:${status}/healthz/ready`] } } },
    env: proxyEnv(inputs, 'grpc-agent'),
    resources: copyResources(settings.resources),
    volumeMounts: proxyMounts(settings, 'grpc-agent')
  }
  if (settings.statusPort !== 0) {
    container.readinessProbe = { httpGet: { path: '/healthz/ready', port: status }, ...settings.readiness, timeoutSeconds: 3 }
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

/** The volumes of a proxy profile, in the order of Istio's templates (the order of its status annotation). */
export function buildVolumes (settings: SidecarSettings, kind: Exclude<ProxyKind, 'none'> = 'sidecar'): V1Volume[] {
  const k = settings.certificates
  const grpc = kind === 'grpc-agent'
  const volumes: V1Volume[] = [
    // emptyDir written as {} explicitly: the API server would default a null one, which a diff sees.
    { name: volumeNames.workloadSocket, emptyDir: {} },
    ...(grpc ? [] : [{ name: volumeNames.credentialSocket, emptyDir: {} }]),
    { name: volumeNames.workloadCerts, emptyDir: {} }
  ]
  if (settings.bootstrapOverride !== '') {
    volumes.push({ name: volumeNames.customBootstrap, configMap: { name: settings.bootstrapOverride } })
  }
  volumes.push(
    { name: grpc ? grpcVolumeNames.xds : volumeNames.envoy, emptyDir: { medium: 'Memory' } },
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
    ...(kind === 'sidecar' ? [{ name: volumeNames.caCrl, configMap: { name: k.crlConfigMap, optional: true } }] : []),
    ...(kind === 'gateway' ? [] : settings.userVolumes.map(v => ({ ...v })))
  )
  return volumes
}
