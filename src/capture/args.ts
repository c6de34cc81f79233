// The init container's command line, written by its owner: the injection core says what to capture
// (InitCaptureArgs) and this writes the flags `capture` (and Istio's istio-iptables) read back, in
// istio-iptables' order: `-p -z [-e] -u -m -i -x -b -d [-q] [-o] [-k] [-c] [-g] --log_output_level`.
// Flags at their istio-iptables default are left out, as istiod's template does.

/** The tunnel (HBONE) port istio-iptables assumes when `-e` is not given. */
export const defaultTunnelPort = 15008

export interface InitCaptureArgs {
  /** -p: Envoy's outbound listener. */
  readonly envoyPort: number
  /** -z: Envoy's inbound listener. */
  readonly inboundCapturePort: number
  /** -e: the HBONE port, never captured; written only when it is not 15008. */
  readonly inboundTunnelPort: number
  /** -u: the proxy's uid, whose traffic is never captured. */
  readonly proxyUid: number
  /** -g: the proxy's gid; written only when given (istio-iptables defaults it to the -u uid). */
  readonly proxyGid?: number
  readonly interceptionMode: 'REDIRECT'
  /** -i, -x, -b, -d, -q, -o, -k, -c: comma lists as checked by ./values.ts ('' = none; -q -o -k -c left out when ''). */
  readonly outboundCidrs: string
  readonly outboundExcludeCidrs: string
  readonly inboundPorts: string
  readonly inboundExcludePorts: string
  readonly outboundPorts: string
  readonly outboundExcludePorts: string
  readonly virtualInterfaces: string
  readonly excludeInterfaces: string
  /** --log_output_level: Istio's `scope:level` list (the pod's agent log level). */
  readonly logLevel: string
}

export function formatCaptureArgs (a: InitCaptureArgs): string[] {
  const args = ['-p', String(a.envoyPort), '-z', String(a.inboundCapturePort)]
  if (a.inboundTunnelPort !== defaultTunnelPort) args.push('-e', String(a.inboundTunnelPort))
  args.push(
    '-u', String(a.proxyUid),
    '-m', a.interceptionMode,
    '-i', a.outboundCidrs,
    '-x', a.outboundExcludeCidrs,
    '-b', a.inboundPorts,
    '-d', a.inboundExcludePorts
  )
  if (a.outboundPorts !== '') args.push('-q', a.outboundPorts)
  if (a.outboundExcludePorts !== '') args.push('-o', a.outboundExcludePorts)
  if (a.virtualInterfaces !== '') args.push('-k', a.virtualInterfaces)
  if (a.excludeInterfaces !== '') args.push('-c', a.excludeInterfaces)
  if (a.proxyGid !== undefined) args.push('-g', String(a.proxyGid))
  args.push(`--log_output_level=${a.logLevel}`)
  return args
}
