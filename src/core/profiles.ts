// The profiles a pod can ask for with inject.istio.io/templates: Istio's named templates of its default
// install (istio-discovery chart), each built here as typed data rather than rendered from a template
// language (docs/istio-compatibility.md, "Profiles"). A list of names combines in order, as istiod
// overlays its templates one after the other: a later profile's value wins where two set the same one.
import type { V1Container, V1Volume } from '@kubernetes/client-node'
import { fieldEnv, grpcVolumeNames, volumeNames } from './sidecar.js'

/** The profiles built here, by the names of Istio's templates. */
export const profileNames = ['sidecar', 'gateway', 'grpc-agent', 'grpc-simple'] as const
export type ProfileName = typeof profileNames[number]

/** Templates of Istio's default install that are not built here (istiod uses them for Gateway API and ambient deployments it creates itself). */
export const unsupportedIstioTemplates = ['kube-gateway', 'waypoint', 'agentgateway', 'agentgateway-waypoint'] as const

/** Which istio-proxy a pod gets: Envoy as a sidecar, Envoy as the gateway, the agent alone for proxyless gRPC, or none. */
export type ProxyKind = 'sidecar' | 'gateway' | 'grpc-agent' | 'none'

/** The profiles that build the istio-proxy container: a pod gets at most one of them. */
const proxyProfiles: readonly ProfileName[] = ['sidecar', 'gateway', 'grpc-agent']

/** Why a value of inject.istio.io/templates is refused: a stable code, and the sentence. */
export type ProfileRefusal = 'unknown-template' | 'unsupported-template' | 'conflicting-templates'

export type ProfileChoice =
  | { ok: true, profiles: ProfileName[] }
  | { ok: false, code: ProfileRefusal, reason: string }

const isProfile = (name: string): name is ProfileName => (profileNames as readonly string[]).includes(name)
const quoted = (names: readonly string[]): string => names.map(n => `'${n}'`).join(', ')

/**
 * inject.istio.io/templates: comma-separated names, applied in order. Absent (or only commas and
 * blanks) is `sidecar`, Istio's defaultTemplates. A repeated name counts where it last appears. Two profiles that each build the istio-proxy container are refused: istiod would
 * merge a gateway's Envoy into a sidecar's (in native mode into two containers of that name).
 */
export function chooseProfiles (value: string | undefined): ProfileChoice {
  const names = (value ?? '').split(',').map(n => n.trim()).filter(n => n !== '')
  if (names.length === 0) return { ok: true, profiles: ['sidecar'] }
  const unknown = names.filter(n => !isProfile(n) && !(unsupportedIstioTemplates as readonly string[]).includes(n))
  if (unknown.length > 0) {
    return { ok: false, code: 'unknown-template', reason: `unknown template${unknown.length > 1 ? 's' : ''} ${quoted(unknown)} (supported: ${profileNames.join(', ')})` }
  }
  const unsupported = names.filter(n => !isProfile(n))
  if (unsupported.length > 0) {
    return {
      ok: false,
      code: 'unsupported-template',
      reason: `Istio's template${unsupported.length > 1 ? 's' : ''} ${quoted(unsupported)} not supported by this injector (supported: ${profileNames.join(', ')})`
    }
  }
  // Applying an overlay again only moves its effect last: a repeated name counts where it last appears.
  const profiles = names.filter((n, i): n is ProfileName => isProfile(n) && names.lastIndexOf(n) === i)
  const proxies = profiles.filter(p => proxyProfiles.includes(p))
  if (proxies.length > 1) {
    return {
      ok: false,
      code: 'conflicting-templates',
      reason: `templates ${quoted(proxies)} each build the istio-proxy container; name at most one of ${proxyProfiles.join(', ')} (grpc-simple combines with any)`
    }
  }
  return { ok: true, profiles }
}

export function proxyKindOf (profiles: readonly ProfileName[]): ProxyKind {
  return profiles.find((p): p is Exclude<ProfileName, 'grpc-simple'> => p !== 'grpc-simple') ?? 'none'
}

/** Whether the profiles change the app's own containers (env and mounts for gRPC's xDS bootstrap). */
export function touchesAppContainers (profiles: readonly ProfileName[]): boolean {
  return profiles.includes('grpc-agent') || profiles.includes('grpc-simple')
}

/**
 * Istio's gRPC templates set sidecar.istio.io/rewriteAppHTTPProbers: "false" on the pod: a proxyless
 * app serves its own probes, there is no Envoy in front of it.
 */
export function forbidsProbeRewrite (profiles: readonly ProfileName[]): boolean {
  return touchesAppContainers(profiles)
}

export const grpcBootstrapInitName = 'grpc-bootstrap-init'

/**
 * What a profile adds to each app container: gRPC's xDS client reads its bootstrap from
 * GRPC_XDS_BOOTSTRAP (https://github.com/grpc/proposal/blob/master/A27-xds-global-load-balancing.md).
 * grpc-agent: the agent writes it into the shared istio-xds volume, with certificates for mTLS;
 * grpc-simple: an init container writes a plaintext one.
 */
export function appContainerOverlay (profile: ProfileName, workloadCertDir: string): Pick<V1Container, 'env' | 'volumeMounts'> | undefined {
  switch (profile) {
    case 'grpc-agent':
      return {
        env: [
          { name: 'GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT', value: 'true' },
          { name: 'GRPC_XDS_BOOTSTRAP', value: '/etc/istio/proxy/grpc-bootstrap.json' }
        ],
        volumeMounts: [
          { mountPath: '/var/lib/istio/data', name: volumeNames.data },
          { mountPath: '/etc/istio/proxy', name: grpcVolumeNames.xds },
          { mountPath: workloadCertDir, name: volumeNames.workloadCerts }
        ]
      }
    case 'grpc-simple':
      return {
        env: [
          { name: 'GRPC_XDS_BOOTSTRAP', value: '/var/lib/grpc/data/bootstrap.json' },
          { name: 'GRPC_GO_LOG_VERBOSITY_LEVEL', value: '99' },
          { name: 'GRPC_GO_LOG_SEVERITY_LEVEL', value: 'info' }
        ],
        volumeMounts: [{ mountPath: '/var/lib/grpc/data/', name: grpcVolumeNames.bootstrap }]
      }
    case 'sidecar':
    case 'gateway':
      return undefined
  }
}

/** The namespace of istiod, from the CA address (`istiod.<namespace>.svc:15012`). */
export function istiodNamespace (caAddress: string): string {
  const host = caAddress.replace(/:\d+$/, '').split('.')
  return host.length >= 2 && host[1] !== '' ? host[1] as string : 'istio-system'
}

// The bootstrap file gRPC's xDS client reads (https://github.com/grpc/proposal/blob/master/A27-xds-global-load-balancing.md#xdsclient-and-bootstrap-file):
// istiod's plaintext xDS port 15010, and a node id of the sidecar form Istio's xDS server parses.
// The ${...} are the shell's variables, not template strings.
/* eslint-disable no-template-curly-in-string */
const bootstrapScript = [
  'NODE_ID="sidecar~${INSTANCE_IP}~${POD_NAME}.${POD_NAMESPACE}~cluster.local"',
  'SERVER_URI="dns:///istiod.${ISTIO_NAMESPACE}.svc:15010"',
  "echo '",
  '{',
  '  "xds_servers": [',
  '    {',
  '      "server_uri": "\'${SERVER_URI}\'",',
  '      "channel_creds": [{"type": "insecure"}],',
  '      "server_features" : ["xds_v3"]',
  '    }',
  '  ],',
  '  "node": {',
  '    "id": "\'${NODE_ID}\'",',
  '    "metadata": {',
  '      "GENERATOR": "grpc"',
  '    }',
  '  }',
  "}' > /var/lib/grpc/data/bootstrap.json"
].join('\n')
/* eslint-enable no-template-curly-in-string */

/** The image of grpc-simple's bootstrap init container: a shell and `echo` are all it needs (Istio's choice). */
export const grpcBootstrapImage = 'busybox:1.28'

/** grpc-simple: writes the bootstrap before the app starts; no agent, no certificates. */
export function buildGrpcBootstrapInit (caAddress: string): V1Container {
  return {
    name: grpcBootstrapInitName,
    image: grpcBootstrapImage,
    command: ['sh', '-c', bootstrapScript],
    env: [
      fieldEnv('INSTANCE_IP', 'status.podIP'),
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      // Istio's template gives this value a trailing newline, which then ends up inside server_uri.
      { name: 'ISTIO_NAMESPACE', value: istiodNamespace(caAddress) }
    ],
    volumeMounts: [{ mountPath: '/var/lib/grpc/data/', name: grpcVolumeNames.bootstrap }]
  }
}

export function grpcBootstrapVolume (): V1Volume {
  return { name: grpcVolumeNames.bootstrap, emptyDir: {} }
}

/** A container's fields overlaid by another's: env by name, mounts by path, ports by number; the overlay's values win. */
export type Overlay = (base: V1Container, over: V1Container) => V1Container

/**
 * An app container after the profiles: their additions in order, then the container as the user wrote
 * it over them (istiod re-applies the user's container over its templates, so a user's own
 * GRPC_GO_LOG_SEVERITY_LEVEL is kept).
 */
export function overlayAppContainer (container: V1Container, profiles: readonly ProfileName[], workloadCertDir: string, overlay: Overlay): V1Container {
  let added: V1Container = { name: container.name }
  for (const profile of profiles) {
    const part = appContainerOverlay(profile, workloadCertDir)
    if (part !== undefined) added = overlay(added, { name: container.name, ...structuredClone(part) })
  }
  const merged = overlay(added, container)
  // The user's container keeps its own field order; only env and volumeMounts change.
  return { ...container, env: merged.env ?? [], volumeMounts: merged.volumeMounts ?? [] }
}

/**
 * The names of what a list of profiles injects, in the order of istiod's status annotation: each
 * overlay puts its own items first, so the last profile's come first, then the earlier ones' not yet named.
 */
export function statusOrder (perProfile: ReadonlyArray<readonly string[]>): string[] {
  const out: string[] = []
  for (const names of [...perProfile].reverse()) for (const name of names) if (!out.includes(name)) out.push(name)
  return out
}
